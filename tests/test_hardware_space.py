"""Design space, validation, Optuna distributions, grids and DesignBatch."""

import numpy as np
import optuna
import pytest
from hypothesis import given, settings, strategies as st

from dse.errors import UserError
from dse.hardware import space
from dse.hardware.designs import DesignBatch, grid, load_design_file
from dse.hardware.space import DRAM_TYPES, PARAMETERS, grid_size, optuna_distributions, validate_params

EXPECTED = ("cores", "rows", "cols", "clock_ghz", "precision", "sram_mb", "dram_type", "dram_channels", "noc",
            "noc_width_bits", "batch", "winograd", "lowering", "dataflow", "local_kib", "sram_bw_bytes_per_cycle",
            "schedule", "batch_schedule")


def test_parameter_declaration():
    assert tuple(p.name for p in PARAMETERS) == EXPECTED
    for p in PARAMETERS:
        assert p.kind in space.KINDS
        assert validate_params({})[p.name] == p.default
    assert space.get_parameter("sram_mb").unit == "MiB"
    with pytest.raises(UserError, match="unknown parameter"):
        space.get_parameter("nope")
    # the SI columns of DesignBatch come from the declarations (one declaration per field)
    designs = DesignBatch.from_params([{}], 16)
    for p in PARAMETERS:
        assert getattr(designs, p.si_name).dtype == p.dtype, p.name
    assert designs.clock_hz[0] == 1e9 and designs.sram_bytes[0] == 8 * 2**20 and designs.local_bytes[0] == 0


def test_local_buffer_grid_starts_at_zero():
    """A log range from 0: 0 (no buffer) and then powers of two; samplers draw the same points."""
    dom = space.make_domain("local_kib", [0, 64])
    assert space.domain_values(dom).tolist() == [0, 1, 2, 4, 8, 16, 32, 64]
    dist = optuna_distributions({"local_kib": [0, 64]})["local_kib"]
    assert list(dist.choices) == [0, 1, 2, 4, 8, 16, 32, 64]
    designs = DesignBatch.from_columns({"local_kib": np.array(dist.choices, dtype=object)}, 16)
    assert designs.local_bytes.tolist() == [c * 1024 for c in dist.choices]


@pytest.mark.parametrize("params, message", [
    ({"rows": 0}, r"^design\.rows: 0 is below the minimum 4 \(allowed: 4\.\.256"),
    ({"cores": 0}, r"^design\.cores: 0 is below the minimum 1"),
    ({"sram_mb": -1}, r"^design\.sram_mb: -1 is below the minimum 0\.25 \(allowed: 0\.25\.\.256 MiB\)"),
    ({"dram_type": "DDR9"}, r"^design\.dram_type: 'DDR9' is not allowed \(allowed: LPDDR4, .*HBM3E\)"),
    ({"dram_type": "HBM3", "dram_channels": 3},
     r"^design\.dram_channels: 3 not allowed for HBM3 \(allowed: 1, 2, 4, 5, 6, 8\)"),
    ({"clock_ghz": 9}, r"^design\.clock_ghz: 9 is above the maximum 2\.5"),
    ({"batch": 2.5}, r"^design\.batch: 2\.5 is not an integer"),
    ({"winograd": "yes"}, r"^design\.winograd: 'yes' is not allowed \(allowed: true, false\)"),
    ({"colour": 1}, r"^design\.colour: unknown parameter \(allowed: cores, rows"),
])
def test_validate_params_errors_name_field_and_allowed(params, message):
    with pytest.raises(UserError, match=message):
        validate_params(params)


def test_vectorized_validation_names_the_design():
    with pytest.raises(UserError, match=r"design\.sram_mb: -1 is below the minimum 0\.25 .*\(design 2\)"):
        DesignBatch.from_columns({"sram_mb": [1.0, 2.0, -1.0]}, 7)
    with pytest.raises(UserError, match=r"dram_channels: 3 not allowed for HBM3"):
        DesignBatch.from_columns({"dram_type": ["HBM3", "LPDDR4"], "dram_channels": [3, 4]}, 7)
    fixed = DesignBatch.from_columns({"dram_type": ["HBM3", "HBM3"], "dram_channels": [3, 7]}, 7,
                                     repair_channels=True)
    assert fixed.dram_channels.tolist() == [2, 6]


def test_design_batch_columns_dtypes_and_units():
    b = DesignBatch.from_columns({"clock_ghz": [1.0, 2.0], "sram_mb": 4, "precision": ["bf16", "int8"],
                                  "dram_type": "hbm3", "dram_channels": 4}, 16)
    assert DesignBatch.from_columns({"precision": [3, 0]}, 16).precision.tolist() == [3, 0]  # codes
    assert len(b) == 2 and b.node_nm == 16
    assert b.clock_hz.dtype == np.float64 and b.clock_hz.tolist() == [1e9, 2e9]
    assert b.sram_bytes.tolist() == [4 * 2**20] * 2
    assert b.precision.dtype == np.int8 and b.precision.tolist() == [3, 0]
    assert b.dram_type.tolist() == [DRAM_TYPES.index("HBM3")] * 2
    assert b.cores.dtype == np.int64 and b.winograd.dtype == bool
    assert not b.cores.flags.writeable
    b2 = b.with_values(batch=8)
    assert b2.batch.tolist() == [8, 8] and b.batch.tolist() == [1, 1]
    assert b.with_values(clock_ghz=0.5).clock_hz.tolist() == [5e8, 5e8]
    assert len(b.take([1])) == 1 and b.take([1]).precision[0] == 0
    frame = b.to_frame()
    assert {"clock_ghz", "sram_mb", "precision", "node_nm"} <= set(frame.columns)
    assert frame["precision"].tolist() == ["bf16", "int8"]


param_dicts = st.fixed_dictionaries({
    "cores": st.integers(1, 256), "rows": st.integers(4, 256), "cols": st.integers(4, 256),
    "clock_ghz": st.floats(0.2, 2.5), "precision": st.sampled_from(space.PRECISIONS),
    "sram_mb": st.floats(0.25, 256), "dram_type": st.sampled_from(("LPDDR5", "GDDR6", "HBM3")),
    "dram_channels": st.sampled_from((1, 2, 4, 8)), "noc": st.sampled_from(space.NOCS),
    "noc_width_bits": st.integers(32, 4096), "batch": st.integers(1, 256), "winograd": st.booleans(),
    "lowering": st.sampled_from(space.LOWERINGS),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(param_dicts, min_size=1, max_size=5))
def test_params_round_trip(dicts):
    b = DesignBatch.from_params(dicts, 7)
    back = b.to_params()
    assert len(back) == len(dicts)
    for got, want in zip(back, dicts):
        for k, v in want.items():
            assert got[k] == pytest.approx(v) if isinstance(v, float) else got[k] == v


def test_grid_is_cartesian_and_drops_disallowed_channels():
    domains = {"cores": [1, 4], "rows": [8, 32], "sram_mb": [1, 8], "clock_ghz": {"low": 0.5, "high": 1.0, "step": 0.25},
               "dram_type": ["HBM3", "LPDDR4"], "dram_channels": {"values": [1, 3, 4]}, "winograd": [False, True]}
    g = grid(domains, 7)
    # cores 1..4 (4) x rows 8,16,32 (3) x sram 1,2,4,8 (4) x clock 0.5,0.75,1.0 (3) x winograd 2 x
    # (HBM3: 1,4; LPDDR4: 1,4) = 4*3*4*3*2*4
    assert len(g) == grid_size(domains) == 4 * 3 * 4 * 3 * 2 * 4
    assert sorted(set(g.rows.tolist())) == [8, 16, 32]
    assert set(g.dram_channels.tolist()) == {1, 4}
    frame = g.to_frame()
    assert not frame.duplicated().any()
    assert sorted(set(frame["clock_ghz"])) == [0.5, 0.75, 1.0]
    assert set(frame["sram_mb"]) == {1.0, 2.0, 4.0, 8.0}
    # parameters missing from the domains are fixed at their default
    assert set(frame["noc"]) == {"mesh"}


def test_grid_size_guard_and_domain_checks():
    with pytest.raises(UserError, match="restrict the domains"):
        grid({"cores": [1, 256], "rows": [4, 256], "cols": [4, 256], "batch": [1, 256], "sram_mb": [0.25, 256],
              "clock_ghz": [0.2, 2.5], "noc_width_bits": [32, 4096]}, 7)
    with pytest.raises(UserError, match=r"^space\.rows\.low: 2 is below the minimum 4"):
        optuna_distributions({"rows": [2, 64]})
    with pytest.raises(UserError, match=r"^space\.nope: unknown parameter"):
        grid_size({"nope": [1, 2]})


def test_optuna_distributions_and_decode():
    dists = optuna_distributions({"cores": [1, 16], "rows": [4, 128], "sram_mb": [1, 64], "clock_ghz": [0.5, 2.0],
                                  "precision": ["int8", "bf16"], "dram_type": ["LPDDR5", "HBM3"],
                                  "dram_channels": [1, 8], "winograd": [False, True], "batch": 4})
    assert isinstance(dists["rows"], optuna.distributions.IntDistribution) and dists["rows"].log
    assert isinstance(dists["sram_mb"], optuna.distributions.FloatDistribution) and dists["sram_mb"].log
    assert isinstance(dists["precision"], optuna.distributions.CategoricalDistribution)
    assert "batch" not in dists and space.fixed_values({"batch": 4})["batch"] == 4
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trials = [study.ask(dists) for _ in range(20)]
    b = DesignBatch.from_params([t.params for t in trials], 7, fixed=space.fixed_values({"batch": 4}),
                                repair_channels=True)
    assert len(b) == 20 and set(b.batch.tolist()) == {4}
    assert space.channels_allowed(b.dram_type.astype(np.int64), b.dram_channels).all()


def test_design_file_errors_name_the_toml_path(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[design]\nnode_nm = 16\nsram_mb = -1\n')
    with pytest.raises(UserError, match=r"^design\.sram_mb: -1 is below the minimum 0\.25"):
        load_design_file(path)
    path.write_text('[design]\nnode_nm = 16\n[technology]\nbogus = 1\n')
    with pytest.raises(UserError, match=r"^technology\.bogus: unknown technology key"):
        load_design_file(path)
    path.write_text('[design]\ncores = 4\n')
    with pytest.raises(UserError, match=r"^design\.node_nm: missing"):
        load_design_file(path)
    path.write_text('[desgin]\nnode_nm = 16\n')
    with pytest.raises(UserError, match=r"^desgin: unknown table"):
        load_design_file(path)
    path.write_text('[design]\nnode_nm = 16\ncores = 4\n[technology]\nlayer_overhead_s = 1e-6\n')
    b, tech = load_design_file(path)
    assert b.cores.tolist() == [4] and b.rows.tolist() == [32]  # missing keys take defaults
    assert tech.value("layer_overhead_s") == 1e-6
    assert DesignBatch.from_toml(path).cores.tolist() == [4]


def test_numeric_value_lists_survive_reparsing():
    from dse.hardware.space import make_domain

    for values in ([2, 8], [1, 4, 16]):
        d = make_domain("cores", {"values": values})
        again = make_domain("cores", d)  # a Domain is re-parsed by resolve_domains
        assert again.values == tuple(values) and again.low is None


def test_a_tiny_float_step_is_a_user_error_not_an_overflow():
    from dse.errors import UserError
    from dse.hardware.space import grid_size, make_domain

    dom = make_domain("clock_ghz", {"low": 0.4, "high": 1.5, "step": 5e-324})
    with pytest.raises(UserError, match=r"space\.clock_ghz\.step"):
        grid_size({"clock_ghz": dom})


def test_a_linear_range_without_a_step_is_a_user_error():
    # sram_mb declares no step (it is searched on a log scale); a linear range of it had no grid
    # and no Optuna distribution: a TypeError traceback before (found by removing the mypy override)
    from dse.errors import UserError
    from dse.hardware.space import Domain, domain_values, make_domain, optuna_distributions

    with pytest.raises(UserError, match=r"^space\.sram_mb\.step: a linear range of sram_mb needs a step"):
        make_domain("sram_mb", {"low": 1, "high": 8, "log": False})
    assert make_domain("sram_mb", {"low": 1, "high": 8, "log": False, "step": 1}).step == 1
    direct = Domain("sram_mb", 1.0, 8.0)  # built without make_domain (scripts do)
    with pytest.raises(UserError, match=r"^space\.sram_mb\.step"):
        domain_values(direct)
    with pytest.raises(UserError, match=r"^space\.sram_mb\.step"):
        optuna_distributions({"sram_mb": direct})


def test_declarations_hold_what_the_narrowing_accessors_rely_on():
    from dse.hardware.space import Domain, Parameter

    with pytest.raises(ValueError, match="needs low and high"):
        Parameter("x", "", "int", 1)
    with pytest.raises(ValueError, match="needs choices"):
        Parameter("x", "", "categorical", "a")
    with pytest.raises(ValueError, match="give values or both low and high"):
        Domain("cores", low=1)
    assert Domain("cores", values=(1, 2)).values == (1, 2)
