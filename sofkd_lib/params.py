"""Parameter counts and the paper's Table 2 (unit M = 2^20 parameters)."""
from __future__ import annotations

from dataclasses import dataclass

from .models import SOFVSR, STUDENT_CHANNELS, TEACHER_CHANNELS, count_parameters

#: Table 2's "M": 2^20 parameters (432,576 / 2^20 = 0.413, whereas / 10^6 = 0.433).
MEBI = 2**20

#: Table 2 of Lee & Park (2023), in M = 2^20 parameters: (OFRnet, SRnet, total).
PAPER_TABLE2 = {
    "Teacher (SOF-VSR)": (0.413, 0.587, 0.999),
    "Phase 1 (teacher OFRnet + student SRnet)": (0.413, 0.371, 0.784),
    "Student": (0.259, 0.371, 0.629),
}


@dataclass(frozen=True)
class ParamRow:
    name: str
    ofrnet: int
    srnet: int
    #: The paper's Phase 1 total (0.784) is the sum of its rounded parts 0.413 + 0.371;
    #: the exact 821,297 / 2^20 is 0.783. Rows with this flag follow the paper.
    total_as_sum_of_rounded: bool = False

    @property
    def total(self) -> int:
        return self.ofrnet + self.srnet

    def in_mebi(self) -> tuple[float, float, float]:
        """(OFRnet, SRnet, total) in units of 2^20 parameters, 3 decimals, as Table 2 prints them."""
        ofr, sr = round(self.ofrnet / MEBI, 3), round(self.srnet / MEBI, 3)
        total = round(ofr + sr, 3) if self.total_as_sum_of_rounded else round(self.total / MEBI, 3)
        return ofr, sr, total

    def exact_total_mebi(self) -> float:
        """Total in units of 2^20 without intermediate rounding."""
        return self.total / MEBI


def table2(scale: int = 4, n_frames: int = 3) -> list[ParamRow]:
    """Table 2 counted from code: teacher, phase-1 hybrid, student."""
    t = SOFVSR(scale, TEACHER_CHANNELS, n_frames)
    s = SOFVSR(scale, STUDENT_CHANNELS, n_frames)
    t_ofr, t_sr = count_parameters(t.ofrnet), count_parameters(t.srnet)
    s_ofr, s_sr = count_parameters(s.ofrnet), count_parameters(s.srnet)
    return [
        ParamRow("Teacher (SOF-VSR)", t_ofr, t_sr),
        ParamRow("Phase 1 (teacher OFRnet + student SRnet)", t_ofr, s_sr, total_as_sum_of_rounded=True),
        ParamRow("Student", s_ofr, s_sr),
    ]


def format_table2(rows: list[ParamRow]) -> str:
    """Plain-text Table 2: exact counts and the paper's unit (M = 2^20)."""
    lines = [f"{'model':<42} {'OFRnet':>10} {'SRnet':>10} {'total':>10}   M=2^20: OFRnet / SRnet / total"]
    notes = []
    for r in rows:
        m = r.in_mebi()
        mark = ""
        if r.total_as_sum_of_rounded:
            mark = " *"
            notes.append(f"* as in the paper, the sum of the rounded parts; exactly {r.exact_total_mebi():.4f} M")
        lines.append(
            f"{r.name:<42} {r.ofrnet:>10,} {r.srnet:>10,} {r.total:>10,}   {m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f}{mark}"
        )
    lines.append("M = 2^20 = 1,048,576 parameters (the paper's unit; 432,576 / 2^20 = 0.413).")
    return "\n".join(lines + notes)
