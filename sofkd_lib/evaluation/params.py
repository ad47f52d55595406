"""Parameter counts and the paper's Table 2 (unit M = 2^20 parameters)."""
from __future__ import annotations

from dataclasses import dataclass

from sofkd_lib.archs.sofvsr_arch import SOFVSR, STUDENT_CHANNELS, TEACHER_CHANNELS, count_parameters

#: Table 2's "M": 2^20 parameters (432,576 / 2^20 = 0.413, whereas / 10^6 = 0.433).
MEBI = 2**20

#: Table 2 of Lee & Park, "Knowledge Distillation for Optical Flow-Based Video
#: Super-resolution", JCSE 17(1):13–19, 2023, as printed: (OFRnet, SRnet, total) in
#: M = 2^20 parameters, keyed by the variant names of :data:`sofkd_lib.engine.config.VARIANTS`.
#: Each printed total is the sum of the printed (rounded) parts: 0.413 + 0.587 = 1,
#: 0.259 + 0.371 = 0.630, 0.413 + 0.371 = 0.784.
PAPER_TABLE2: dict[str, tuple[float, float, float]] = {
    "teacher": (0.413, 0.587, 1.0),
    "student": (0.259, 0.371, 0.630),
    "phase1": (0.413, 0.371, 0.784),
    "phase2": (0.259, 0.371, 0.630),
    "phase1+2": (0.259, 0.371, 0.630),
}
#: The same table's last column: the total as a percentage of the teacher's, as printed.
PAPER_TABLE2_PERCENT: dict[str, int] = {"teacher": 100, "student": 63, "phase1": 78, "phase2": 63, "phase1+2": 63}
#: Row labels of Table 2 (phase 1's model is a hybrid, hence its longer name).
TABLE2_ROWS: dict[str, str] = {
    "teacher": "Teacher (SOF-VSR)",
    "student": "Student",
    "phase1": "Phase 1 (teacher OFRnet + student SRnet)",
    "phase2": "Phase 2",
    "phase1+2": "Phase 1+2",
}


@dataclass(frozen=True)
class ParamRow:
    """One row of Table 2: a variant's exact OFRnet and SRnet parameter counts."""

    key: str
    name: str
    ofrnet: int
    srnet: int

    @property
    def total(self) -> int:
        return self.ofrnet + self.srnet

    def in_mebi(self) -> tuple[float, float, float]:
        """(OFRnet, SRnet, total) the way Table 2 prints them: parts in 2^20 rounded to 3 decimals,
        the total the sum of the rounded parts (so the teacher's 0.9991 prints as 1)."""
        ofr, sr = round(self.ofrnet / MEBI, 3), round(self.srnet / MEBI, 3)
        return ofr, sr, round(ofr + sr, 3)

    def exact_mebi(self) -> tuple[float, float, float]:
        """(OFRnet, SRnet, total) in units of 2^20, without rounding."""
        return self.ofrnet / MEBI, self.srnet / MEBI, self.total / MEBI


def table2(scale: int = 4, n_frames: int = 3) -> list[ParamRow]:
    """Table 2 counted from code, in the paper's row order (phase 1 = teacher OFRnet + student SRnet)."""
    t = SOFVSR(scale, TEACHER_CHANNELS, n_frames)
    s = SOFVSR(scale, STUDENT_CHANNELS, n_frames)
    t_ofr, t_sr = count_parameters(t.ofrnet), count_parameters(t.srnet)
    s_ofr, s_sr = count_parameters(s.ofrnet), count_parameters(s.srnet)
    parts = {"teacher": (t_ofr, t_sr), "student": (s_ofr, s_sr), "phase1": (t_ofr, s_sr),
             "phase2": (s_ofr, s_sr), "phase1+2": (s_ofr, s_sr)}
    return [ParamRow(key, TABLE2_ROWS[key], ofr, sr) for key, (ofr, sr) in parts.items()]


def format_table2(rows: list[ParamRow]) -> str:
    """Plain-text Table 2: exact counts, the paper's unit (M = 2^20) and the exact totals."""
    lines = [f"{'model':<41} {'OFRnet':>9} {'SRnet':>9} {'total':>10}   {'M, printed: OFR / SR / total':<30} {'exact total':>11}"]
    for r in rows:
        m = r.in_mebi()
        lines.append(f"{r.name:<41} {r.ofrnet:>9,} {r.srnet:>9,} {r.total:>10,}   "
                     f"{f'{m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f}':<30} {r.exact_mebi()[2]:>9.4f} M")
    lines.append("M = 2^20 = 1,048,576 parameters (the paper's unit; 432,576 / 2^20 = 0.413).")
    lines.append("As in the paper, each printed total is the sum of the rounded parts; the last column is exact.")
    return "\n".join(lines)
