"""skshot._device: the checks of ``device`` and ``mixed_precision``, the CUDA paths simulated."""

import contextlib

import pytest
import torch

from skshot._device import check_device, has_fast_bf16, resolve_device


@pytest.fixture
def cuda(monkeypatch):
    """Simulate a CUDA build with ``n`` GPUs, with or without bfloat16 (``cuda(n, bf16)``)."""
    def simulate(n_gpus, bf16=True, built=True):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n_gpus > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n_gpus)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
        monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: built)
    return simulate


@pytest.mark.parametrize("device, expected", [
    ("cpu", torch.device("cpu")), ("cpu:0", torch.device("cpu", 0)),
    (torch.device("cpu"), torch.device("cpu")),
])
def test_the_cpu_is_always_accepted(device, expected):
    assert check_device(device) == expected
    assert check_device(device, "bf16") == expected  # bf16 autocast runs on the CPU


@pytest.mark.parametrize("device", ["tpu9", "CPU", "cuda:x", " cpu", ""])
def test_a_device_pytorch_does_not_know_is_named(device):
    with pytest.raises(ValueError, match=rf"device={device!r} is not a device PyTorch knows "
                                         r"\(.*\)\..*device=\"auto\".*device=\"cpu\""):
        check_device(device)


def test_auto_takes_the_gpu_when_there_is_one_and_the_cpu_otherwise(cuda):
    cuda(0)
    assert check_device("auto") == torch.device("cpu")
    assert resolve_device("auto") == "cpu"
    cuda(2)
    assert check_device("auto") == torch.device("cuda")
    assert resolve_device("auto") == "cuda"


def test_cuda_without_gpu_says_so_and_suggests_auto(cuda):
    cuda(0, built=True)
    with pytest.raises(ValueError, match=r"device='cuda' needs CUDA, but CUDA is not available: "
                                         r"no CUDA GPU is visible on this machine .*"
                                         r"device=\"auto\""):
        check_device("cuda")


def test_cuda_in_a_build_without_cuda_says_so(cuda):
    cuda(0, built=False)
    with pytest.raises(ValueError, match="this PyTorch build has no CUDA support"):
        check_device("cuda:0")


def test_a_gpu_index_beyond_the_visible_gpus_is_refused(cuda):
    cuda(2)
    assert check_device("cuda:1") == torch.device("cuda", 1)
    assert check_device("cuda") == torch.device("cuda")
    with pytest.raises(ValueError, match=r"device='cuda:2' asks for GPU 2, but only 2 GPU\(s\) "
                                         r"are visible \(cuda:0 to cuda:1\)"):
        check_device("cuda:2")


def test_bf16_on_a_gpu_without_bfloat16_is_refused(cuda):
    cuda(1, bf16=True)
    assert check_device("cuda", "bf16") == torch.device("cuda")
    assert check_device("auto", "bf16") == torch.device("cuda")
    cuda(1, bf16=False)
    assert check_device("cuda") == torch.device("cuda")  # float32 is fine
    with pytest.raises(ValueError, match=r"mixed_precision='bf16' cannot run on "
                                         r"device='auto': its GPU does not support bfloat16.*"
                                         r"mixed_precision=None"):
        check_device("auto", "bf16")


def test_mps_needs_the_metal_backend(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device='mps' needs Apple's Metal \(MPS\) backend"):
        check_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert check_device("mps") == torch.device("mps")


@pytest.mark.parametrize("device", ["meta", "xla", "hpu"])
def test_other_device_types_are_refused_unless_available(device):
    with pytest.raises(ValueError, match=rf"device={device!r}: PyTorch knows the device type "
                                         rf"{device!r}, but it is not available"):
        check_device(device)


def test_another_available_backend_is_accepted_and_its_index_checked(monkeypatch):
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    monkeypatch.setattr(torch.xpu, "device_count", lambda: 1)
    assert check_device("xpu") == torch.device("xpu")
    with pytest.raises(ValueError, match=r"device='xpu:1' asks for xpu device 1, but only 1"):
        check_device("xpu:1")


def test_bf16_on_a_device_type_without_autocast_is_refused(monkeypatch):
    monkeypatch.setattr(torch.xpu, "is_available", lambda: True)
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda device_type: False)
    with pytest.raises(ValueError, match=r"mixed_precision='bf16' cannot run on device='xpu': "
                                         r"PyTorch has no autocast for the device type 'xpu'"):
        check_device("xpu", "bf16")


@pytest.mark.parametrize("avx512_bf16, amx, expected", [
    (False, False, False), (True, False, False), (False, True, True), (True, True, True)])
def test_a_cpu_has_fast_bf16_with_bfloat16_matrix_units(monkeypatch, avx512_bf16, amx,
                                                        expected):
    # AVX-512 BF16 alone made the convolutions slower under autocast, not faster
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16,
                        raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert has_fast_bf16("cpu") is expected
    assert has_fast_bf16(torch.device("cpu")) is expected


def test_a_cpu_whose_pytorch_cannot_tell_has_no_fast_bf16(monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    assert has_fast_bf16("cpu") is False


def test_a_gpu_has_fast_bf16_only_with_bfloat16_units(monkeypatch, cuda):
    asked = []

    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return not including_emulation and units

    cuda(2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    monkeypatch.setattr(torch.cuda, "device", lambda index: contextlib.nullcontext())
    for units in (True, False):
        assert has_fast_bf16("cuda") is units
        assert has_fast_bf16("cuda:1") is units
        assert has_fast_bf16("auto") is units
    assert set(asked) == {False}  # emulated bfloat16 is not fast


def test_other_devices_claim_no_fast_bf16(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert has_fast_bf16("mps") is False
    assert has_fast_bf16("meta") is False
