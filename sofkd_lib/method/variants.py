"""The five models of Table 1 (Lee & Park, 2023), each declared once as data.

A :class:`Variant` says what the row is: which widths its OFRnet and SRnet have,
which parts the optimiser trains, which parts are frozen and whose weights they
carry, which equation it minimises, which config field holds its budget and which
runs it starts from. Freezing and initialisation (:func:`sofkd_lib.engine.train.prepare_models`),
loss dispatch and logged terms (:func:`sofkd_lib.engine.train.variant_losses`), budgets
(:attr:`sofkd_lib.engine.config.TrainConfig.total_iterations`), the pipeline's and
``record``'s order, the table labels and the training notebook's checks all read
these records; adding a row is one new record (and its test).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Width = Literal["teacher", "student"]
Part = Literal["ofrnet", "srnet"]
PARTS: tuple[Part, ...] = ("ofrnet", "srnet")
#: How the paper writes each part.
PART_LABELS: MappingProxyType[Part, str] = MappingProxyType({"ofrnet": "OFRnet", "srnet": "SRnet"})

#: Equation → the loss terms a run logs, components first and the optimised total last.
EQUATION_TERMS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "Eq. 1": ("loss_sr", "loss_ofr", "loss_sof", "loss"),
    "Eq. 6": ("loss_sr", "loss_ofr", "loss_sof", "loss_kd_sr", "loss"),
    "Eq. 8": ("loss_sr", "loss_ofr", "loss_sof", "loss_kd_ofr", "loss_kd_sr", "loss"),
})


@dataclass(frozen=True)
class Variant:
    """One row of Table 1."""

    name: str
    label: str  #: the row's label in this project's tables
    paper_label: str  #: the row's name in the paper's Table 1
    ofrnet: Width  #: whose width the OFRnet has
    srnet: Width
    trains: tuple[Part, ...]  #: parts the optimiser updates
    frozen_from: MappingProxyType[Part, str] = field(default_factory=lambda: MappingProxyType({}))
    equation: str = "Eq. 1"  #: the loss it minimises (a key of :data:`EQUATION_TERMS`)
    budget_field: str = "phase_iterations"  #: the TrainConfig field holding its iterations

    @property
    def depends(self) -> tuple[str, ...]:
        """Runs whose checkpoints this one starts from: the teacher for every distilled row, then the sources
        of its frozen parts."""
        out = ["teacher"] if self.equation != "Eq. 1" else []
        out += [src for src in self.frozen_from.values() if src not in out]
        return tuple(out)

    @property
    def needs_teacher(self) -> bool:
        return "teacher" in self.depends

    @property
    def init_from(self) -> str | None:
        """The run (other than the teacher) whose weights initialise a frozen part, if any."""
        return next((src for src in self.frozen_from.values() if src != "teacher"), None)

    @property
    def loss_terms(self) -> tuple[str, ...]:
        return EQUATION_TERMS[self.equation]

    def widths(self, teacher_channels: int, student_channels: int) -> tuple[int, int]:
        """(OFRnet, SRnet) ResBlock channels of this row's model."""
        pick = {"teacher": teacher_channels, "student": student_channels}
        return pick[self.ofrnet], pick[self.srnet]


def _frozen(**parts: str) -> MappingProxyType[Part, str]:
    return MappingProxyType(dict(parts))


#: Table 1's rows, in dependency order.
TABLE1: tuple[Variant, ...] = (
    Variant("teacher", label="Teacher (SOF-VSR)", paper_label="SOF-VSR (teacher)",
            ofrnet="teacher", srnet="teacher", trains=("ofrnet", "srnet"), frozen_from=_frozen(),
            equation="Eq. 1", budget_field="teacher_iterations"),
    Variant("student", label="Student w/o KD", paper_label="Student w/o KD",
            ofrnet="student", srnet="student", trains=("ofrnet", "srnet"), frozen_from=_frozen(),
            equation="Eq. 1", budget_field="student_iterations"),
    Variant("phase1", label="Proposed Phase 1", paper_label="Proposed Phase 1",
            ofrnet="teacher", srnet="student", trains=("srnet",), frozen_from=_frozen(ofrnet="teacher"),
            equation="Eq. 6", budget_field="phase1_iterations"),
    Variant("phase2", label="Proposed Phase 2", paper_label="Proposed Phase 2",
            ofrnet="student", srnet="student", trains=("ofrnet", "srnet"), frozen_from=_frozen(),
            equation="Eq. 8", budget_field="phase2_iterations"),
    Variant("phase1+2", label="Proposed Phase 1+2", paper_label="Proposed (Phase 1+Phase 2)",
            ofrnet="student", srnet="student", trains=("ofrnet",), frozen_from=_frozen(srnet="phase1"),
            equation="Eq. 8", budget_field="phase_iterations"),
)
BY_NAME: MappingProxyType[str, Variant] = MappingProxyType({v.name: v for v in TABLE1})
#: Names in dependency order.
NAMES: tuple[str, ...] = tuple(v.name for v in TABLE1)


def variant_spec(name: str) -> Variant:
    """The row called ``name``; unknown names raise ValueError listing the known ones."""
    if name not in BY_NAME:
        raise ValueError(f"unknown variant {name!r}; choose from {list(NAMES)}")
    return BY_NAME[name]
