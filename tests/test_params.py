"""Table 2 in the paper's unit, M = 2^20."""
from sofkd_lib.cli import main
from sofkd_lib.params import MEBI, PAPER_TABLE2, table2


def test_table2_matches_the_paper_in_mebi():
    rows = table2()
    got = {r.name: r.in_mebi() for r in rows}
    assert got == PAPER_TABLE2
    assert MEBI == 1_048_576
    assert round(432_576 / MEBI, 3) == 0.413 and round(432_576 / 1e6, 3) == 0.433


def test_params_command_prints_table2(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    for text in ("0.413 / 0.587 / 0.999", "0.413 / 0.371 / 0.784", "0.259 / 0.371 / 0.629", "432,576", "2^20"):
        assert text in out
