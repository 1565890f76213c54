"""tritonserver-rs against NVIDIA's own HTTP client (tritonclient[http] from PyPI).

Run by scripts/test-http-client.sh, which starts the server on loopback over a copy of
examples/model_repository and sets TRITON_URL, TRITON_MODELS (the copy) and TRITON_PID.
"""

import os
import signal
import time

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

URL = os.environ["TRITON_URL"]
MODELS = os.environ["TRITON_MODELS"]


@pytest.fixture(scope="module")
def client():
    c = httpclient.InferenceServerClient(URL, network_timeout=30.0, connection_timeout=10.0)
    yield c
    c.close()


def test_health_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "triton"
    assert "binary_tensor_data" in meta["extensions"]
    assert client.is_model_ready("identity")
    assert client.is_model_ready("identity", "1")
    assert not client.is_model_ready("nope")
    m = client.get_model_metadata("identity")
    assert m["name"] == "identity"
    assert [i["name"] for i in m["inputs"]] == ["INPUT0", "INPUT1"]
    cfg = client.get_model_config("identity")
    assert cfg["max_batch_size"] == 8
    index = client.get_model_repository_index()
    assert sorted(e["name"] for e in index) == ["identity", "simple", "stub"]


def _inputs(binary):
    a = np.array([[1.0, 2.5, -3.0]], dtype=np.float32)
    s = np.array([["hello", "wörld"]], dtype=np.object_)
    i0 = httpclient.InferInput("INPUT0", list(a.shape), "FP32")
    i0.set_data_from_numpy(a, binary_data=binary)
    i1 = httpclient.InferInput("INPUT1", list(s.shape), "BYTES")
    i1.set_data_from_numpy(s, binary_data=binary)
    return a, s, [i0, i1]


@pytest.mark.parametrize("binary", [False, True])
def test_infer_json_and_binary(client, binary):
    a, s, inputs = _inputs(binary)
    outputs = [
        httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary),
        httpclient.InferRequestedOutput("OUTPUT1", binary_data=binary),
    ]
    r = client.infer("identity", inputs, outputs=outputs, request_id="abc",
                     parameters={"tag": "t1", "n": 7})
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a)
    got = r.as_numpy("OUTPUT1")
    assert [x.decode() if isinstance(x, bytes) else x for x in got.flatten()] == ["hello", "wörld"]
    resp = r.get_response()
    assert resp["id"] == "abc"
    assert resp["parameters"]["tag"] == "t1"
    assert resp["parameters"]["n"] == 7


def test_infer_default_outputs_are_binary(client):
    a, _, inputs = _inputs(True)
    r = client.infer("identity", inputs)
    np.testing.assert_array_equal(r.as_numpy("OUTPUT0"), a)


def test_classification(client):
    x = np.array([[0.1, 0.9, 0.5, 0.2]], dtype=np.float32)
    i0 = httpclient.InferInput("INPUT0", list(x.shape), "FP32")
    i0.set_data_from_numpy(x)
    out = httpclient.InferRequestedOutput("OUTPUT0", binary_data=False, class_count=2)
    r = client.infer("identity", [i0], outputs=[out])
    got = [v.decode() if isinstance(v, bytes) else v for v in r.as_numpy("OUTPUT0").flatten()]
    assert got == ["0.900000:1:dog", "0.500000:2:bird"]


def test_errors_keep_serving(client):
    x = np.zeros((4,), dtype=np.float32)  # missing batch dimension
    i0 = httpclient.InferInput("INPUT0", [4], "FP32")
    i0.set_data_from_numpy(x)
    with pytest.raises(InferenceServerException, match="shape"):
        client.infer("identity", [i0])
    y = np.zeros((1, 2), dtype=np.int32)  # wrong datatype
    i1 = httpclient.InferInput("INPUT0", [1, 2], "INT32")
    i1.set_data_from_numpy(y)
    with pytest.raises(InferenceServerException, match="INT32"):
        client.infer("identity", [i1])
    with pytest.raises(InferenceServerException, match="nope"):
        client.infer("nope", [i0])
    with pytest.raises(InferenceServerException):
        client.get_model_metadata("nope")
    assert client.is_server_live()
    assert client.is_server_ready()


def test_statistics(client):
    stats = client.get_inference_statistics("identity")
    assert stats["model_stats"][0]["name"] == "identity"
    assert stats["model_stats"][0]["inference_count"] >= 1


def test_killed_stub_makes_server_unready(client):
    # Runs last (file order): kills the example stub process.
    with open(os.path.join(MODELS, "stub", "stub_0_0.pid")) as f:
        pid = int(f.read().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 10
    while client.is_server_ready() and time.time() < deadline:
        time.sleep(0.05)
    assert not client.is_server_ready()
    assert client.is_server_live()
    assert not client.is_model_ready("stub")
    assert client.is_model_ready("identity")
