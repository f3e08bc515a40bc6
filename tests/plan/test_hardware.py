"""The accelerator catalogue and user overrides."""

from __future__ import annotations

import pytest

from scalinglab.errors import InputError, ScalingLabError
from scalinglab.plan.hardware import find_gpu, load_catalogue, match_device_name

EXPECTED = {"a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "b200", "l4", "t4", "mi300x"}


def test_catalogue_has_every_issue_device_with_a_source():
    catalogue = load_catalogue()
    assert set(catalogue) >= EXPECTED
    for gpu in catalogue.values():
        assert "datasheet" in gpu.source or "specifications" in gpu.source
        assert gpu.memory_bytes > 1e10
        assert gpu.bandwidth_bytes_per_s > 1e11
        assert gpu.peak["fp16"] > gpu.peak["fp32"]


def test_datasheet_figures():
    # NVIDIA A100 datasheet: 312 TFLOPS dense bf16, 80 GB at 2,039 GB/s (SXM).
    a100 = find_gpu("a100-80gb")
    assert a100.peak_flops("bf16") == 312e12
    assert a100.bandwidth_bytes_per_s == pytest.approx(2.039e12)
    # NVIDIA H100 SXM: 989 TFLOPS dense bf16 (1,979 with sparsity), 3.35 TB/s.
    assert find_gpu("H100").peak_flops("bf16") == 989e12
    assert find_gpu("h200").memory_bytes == 141e9


def test_missing_precision_names_the_available():
    with pytest.raises(ScalingLabError, match="bf16, fp16, fp32"):
        find_gpu("a100").peak_flops("fp8")
    with pytest.raises(ScalingLabError, match="fp16, fp32"):
        find_gpu("t4").peak_flops("bf16")


def test_unknown_gpu_lists_the_known():
    with pytest.raises(ScalingLabError) as error:
        find_gpu("v100")
    message = str(error.value)
    assert "v100" in message
    for key in EXPECTED:
        assert key in message


def test_user_file_adds_and_replaces(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text(
        '[gpu.v100]\nname = "NVIDIA V100 32GB"\nfp16_tflops = 125\nfp32_tflops = 15.7\n'
        'memory_gb = 32\nbandwidth_gbps = 900\nsource = "NVIDIA V100 datasheet"\n'
        '[gpu.a100-80gb]\nname = "A100 capped"\nbf16_tflops = 250\nmemory_gb = 80\n'
        'bandwidth_gbps = 2039\nsource = "measured"\n'
    )
    catalogue = load_catalogue(path)
    assert find_gpu("v100", catalogue).peak_flops("fp16") == 125e12
    assert find_gpu("a100-80gb", catalogue).peak_flops("bf16") == 250e12
    assert "h100-sxm" in catalogue


def test_bad_user_file_is_located(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text('[gpu.x]\nname = "x"\nmemory_gb = 8\n')
    with pytest.raises(InputError, match="lacks bandwidth_gbps, source"):
        load_catalogue(path)
    path.write_text("[gpu.x\n")
    with pytest.raises(InputError, match="invalid TOML"):
        load_catalogue(path)


@pytest.mark.parametrize(
    ("device_name", "key"),
    [
        ("NVIDIA A100-SXM4-80GB", "a100-80gb"),
        ("NVIDIA A100-PCIE-40GB", "a100-40gb"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H200", "h200"),
        ("Tesla T4", "t4"),
        ("AMD Instinct MI300X", "mi300x"),
    ],
)
def test_driver_names_map_to_catalogue_entries(device_name: str, key: str) -> None:
    assert match_device_name(device_name).key == key


def test_unknown_driver_name_matches_nothing() -> None:
    assert match_device_name("NVIDIA GeForce RTX 4090") is None
