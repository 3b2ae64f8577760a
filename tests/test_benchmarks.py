"""The benchmarks run (a few steps; the figures themselves are in docs/l2l.md, docs/maml.md)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.data
def test_l2l_step_cost_times_adam_and_both_learned_variants(data_dir, capsys):
    benchmark = load_benchmark("l2l_step_cost")
    argv = ["--steps", "3", "--repeats", "1", "--data-dir", str(data_dir)]
    result = benchmark.main(argv + ["--preset", "l2l_mnist_mlp"])
    assert set(result["all_ms"]) == set(result["best_ms"]) == {"adam", "learned", "learned_plain"}
    assert all(result[k] > 0 for k in ("adam_ms", "learned_ms", "learned_plain_ms"))
    assert set(result["rule_only_ms"]) == {"rule_plain", "rule_xla", "matmuls_only"}
    assert result["ratio"] == pytest.approx(result["learned_ms"] / result["adam_ms"], rel=0.01)
    assert '"benchmark": "l2l_step_cost"' in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.data
def test_lake_compare_pairs_two_presets_on_the_same_built_runs(data_dir, tmp_path, capsys):
    import keras

    from metazoo.algorithms import PrototypicalNetwork
    from metazoo.networks import Conv4
    from metazoo.presets import save_preset

    keras.utils.set_random_seed(0)
    for name in ("a", "b"):
        save_preset(
            PrototypicalNetwork(Conv4(filters=2)),
            tmp_path / name,
            {"description": name},
            export=False,
        )
    benchmark = load_benchmark("lake_compare")
    argv = [str(tmp_path / "a"), str(tmp_path / "b"), "--runs", "2", "--data-dir", str(data_dir)]
    result = benchmark.main(argv)
    assert result["runs"] == 2 and result["lake_runs"].endswith("--runs 2 --seed 0")
    assert result["difference"] == pytest.approx(result["accuracy_a"] - result["accuracy_b"])
    same = benchmark.main([str(tmp_path / "a"), str(tmp_path / "a"), *argv[2:]])
    assert same["difference"] == same["ci95"] == 0 and same["runs_a_better"] == 0
    assert '"benchmark": "lake_compare"' in capsys.readouterr().out.splitlines()[-1]


@pytest.mark.data
def test_lake_step_cost_times_both_recipes(data_dir, capsys):
    benchmark = load_benchmark("lake_step_cost")
    argv = ["--steps", "1", "--repeats", "1", "--ways", "5", "--shots", "1", "--augment"]
    result = benchmark.main([*argv, "--data-dir", str(data_dir)])
    names = sorted(result["seconds_per_step"])
    assert names == [
        "protonet_omniglot_lake (5-way 1-shot 5-query, 28x28, distorted)",
        "siamese_omniglot (128 pairs, 28x28)",
    ]
    assert all(value > 0 for value in result["seconds_per_step"].values())
    assert '"seconds_per_step"' in capsys.readouterr().out.splitlines()[-1]


def test_maml_step_cost_runs_each_backend_in_a_worker_process(capsys):
    # --quick: tiny shapes and random images, no data. One variant keeps it to three workers
    # (the variants differ only in MAML's options, which tests/algorithms/test_maml.py covers).
    benchmark = load_benchmark("maml_step_cost")
    result = benchmark.main(["--quick", "--variants", "first_order", "--threads", "1"])
    names = ["tensorflow/first_order", "jax/first_order", "torch/first_order"]
    assert list(result["seconds_per_step"]) == names
    assert all(len(result["all_seconds"][name]) == 2 for name in names)
    assert all(value > 0 for value in result["seconds_per_step"].values())
    memory = result["memory"]
    assert all(memory[n]["peak_rss_mib"] >= memory[n]["before_mib"] > 0 for n in names)
    # Keras's "auto": XLA on JAX, none on a CPU-only TensorFlow or on PyTorch; each worker
    # ran its backend.
    assert [memory[name]["jit_compile"] for name in names] == [False, True, False]
    # --threads 1 reached every worker (PyTorch reports its own pool's size).
    assert [memory[name]["threads_cap"] for name in names] == [1, 1, 1]
    assert result["threads"] == [1]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| backend | variant | threads | s/step | x first order |")
    assert lines[2].startswith("| tensorflow | first_order | 1 |")
    assert lines[-1].startswith('{"benchmark": "maml_step_cost"')


def test_maml_step_cost_names_and_compares_thread_settings():
    # Several settings: one worker per setting, named by it, each row's ratio to the first
    # order of its own backend and setting; "0" leaves the library its own threads.
    benchmark = load_benchmark("maml_step_cost")
    args = benchmark.parse_args(["--threads", "0", "1"])
    names = [benchmark.worker_name("torch", v, t, args) for v in benchmark.VARIANTS for t in (0, 1)]
    assert names[:2] == ["torch/second_order/threads=0", "torch/second_order/threads=1"]
    assert benchmark.thread_env(0, "torch") == {}
    assert benchmark.thread_env(1, "torch")["OMP_NUM_THREADS"] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in benchmark.thread_env(1, "jax")["XLA_FLAGS"]
    assert benchmark.worker_name("jax", "anil", 2, benchmark.parse_args([])) == "jax/anil"
    seconds = dict(zip(names, [4.0, 1.0, 2.0, 0.5, 3.0, 0.75], strict=True))
    memory = {n: {"threads_cap": 1 if n.endswith("=1") else None, "peak_rss_mib": 1000,
                  "added_mib": 100} for n in names}  # fmt: skip
    rows = benchmark.markdown_table({"seconds_per_step": seconds, "memory": memory})
    rows = [row.split(" | ") for row in rows.splitlines()[2:]]
    assert [(r[2], r[4]) for r in rows] == [
        ("default", "2.00"), ("1", "2.00"), ("default", "1.00"), ("1", "1.00"),
        ("default", "1.50"), ("1", "1.50"),
    ]  # fmt: skip


def test_maml_step_cost_refuses_a_negative_thread_count(capsys):
    benchmark = load_benchmark("maml_step_cost")
    with pytest.raises(SystemExit):
        benchmark.main(["--threads", "-1"])
    assert "--threads takes numbers of threads >= 0 (0: default). Received: [-1]" in (
        capsys.readouterr().err
    )


@pytest.mark.data
def test_gpu_check_writes_one_json_line_on_jax_without_a_gpu(data_dir, tmp_path):
    import json
    import os
    import subprocess

    out = tmp_path / "gpu_check.json"
    # fmt: off
    argv = ["--episodes", "4", "--steps", "1", "--warmup", "0", "--protonet-ways", "2",
            "--maml-meta-batch", "1", "--data-dir", str(data_dir), "--output", str(out)]
    # fmt: on
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_check.py"), *argv],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result == json.loads(out.read_text())
    assert result["device"]["platform"] == "cpu"
    assert result["device"]["peak_tflops"] == {"fp32": None, "bf16": None}
    assert result["eval"]["episodes"] == 4 and 0.5 < result["eval"]["accuracy"] <= 1
    for step in ("protonet_step", "maml_step"):
        assert result[step]["seconds_per_step"] > 0 and result[step]["flops_per_step"] > 0
        assert result[step]["fraction_of_fp32_peak"] is None
    assert "2-way 5-shot" in result["protonet_step"]["settings"]
    assert "meta-batch 1" in result["maml_step"]["settings"]


def test_gpu_check_refuses_bad_settings(capsys):
    benchmark = load_benchmark("gpu_check")
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--steps", "0"])
    assert "--steps must be >= 1. Received: 0" in capsys.readouterr().err
    assert benchmark.parse_args(["--peak-tflops-fp32", "10"]).peak_tflops_fp32 == 10


def test_recipe_step_cost_times_a_recipe_as_its_options_describe_it(data_dir, capsys):
    benchmark = load_benchmark("recipe_step_cost")
    spec = "reptile --filters 2 --meta-batch 2 --shots 2 --inner-steps 1 --steps 40"
    argv = [spec, "--steps", "1", "--rounds", "2", "--warmup", "1", "--data-dir", str(data_dir)]
    result = benchmark.main(argv)
    row = result["recipes"][spec]
    assert row["total_steps"] == 40 and len(row["all_seconds"]) == 2 and row["seconds"] > 0
    assert row["hours"] == pytest.approx(row["seconds"] * 40 / 3600, abs=0.006)  # rounded to 0.01 h
    assert '"benchmark": "recipe_step_cost"' in capsys.readouterr().out.splitlines()[-1]
    with pytest.raises(SystemExit):
        benchmark.main(["reptile --no-such-option"])


@pytest.mark.data
def test_eval_trace_cost_compares_static_and_unknown_batches(data_dir, capsys):
    benchmark = load_benchmark("eval_trace_cost")
    argv = ["protonet_omniglot", "--episodes", "4", "--batch-size", "2"]
    benchmark.main([*argv, "--data-dir", str(data_dir)])
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["preset"] == "protonet_omniglot" and result["episodes"] == 4
    assert result["queries"] == 4 * 75 and result["changed_predictions"] == 0
    assert result["static_batch_first_s"] > 0 and result["unknown_batch_batch_s"] > 0
    with pytest.raises(SystemExit):
        benchmark.main(["protonet_omniglot", "--episodes", "3", "--batch-size", "2"])
