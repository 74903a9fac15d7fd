"""The device test vectors in tests/device/nn_data are what ulearn_host.nn.cases generates now
(rewrite them with `python -m ulearn_host.nn.cases tests/device/nn_data`)."""

from pathlib import Path

from ulearn_host.nn import cases

DATA = Path(__file__).parent / "device" / "nn_data"


def test_device_vectors_are_current():
    for name, data in cases.device_vectors().items():
        assert (DATA / name).read_bytes() == data, f"{name} is stale: run python -m ulearn_host.nn.cases {DATA}"


def test_fan_vector_model_is_fan_shaped():
    from ulearn_host.nn import export
    model = export.from_blob((DATA / "fan.ulb").read_bytes())
    assert 10_000 <= model.params() <= 10_500
    assert 50_000 <= model.macs() <= 56_000
    assert model.input_shape == (128, 3)
