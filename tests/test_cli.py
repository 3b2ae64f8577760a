import json
import os
import re

import keras
import pytest

from metazoo import cli, presets
from metazoo.algorithms import CenterInk, PrototypicalNetwork, RandomAffine
from metazoo.networks import Conv4


@pytest.fixture
def preset_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(presets.PRESETS_ENV, str(tmp_path))
    keras.utils.set_random_seed(0)
    presets.save_preset(
        PrototypicalNetwork(Conv4(filters=4)),
        tmp_path / "tiny_proto",
        {"description": "an untrained tiny ProtoNet", "kind": "few_shot_classifier",
         "training": {"algorithm": "protonet", "protocol": "vinyals", "image_size": 28}},
        export=False,
    )  # fmt: skip
    return tmp_path


def test_list(preset_dir, capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^tiny_proto +an untrained tiny ProtoNet$", out, re.MULTILINE)
    assert re.search(r"^protonet_omniglot +Prototypical Network", out, re.MULTILINE)


def test_eval_json_contract(preset_dir, data_dir, capsys):
    argv = ["eval", "tiny_proto", "--ways", "5", "--shots", "1", "--episodes", "4", "--json",
            "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"preset", "protocol", "split", "ways", "shots", "queries", "episodes", "accuracy",
            "ci95"} <= set(result)  # fmt: skip
    assert result["preset"] == "tiny_proto" and result["split"] == "test"
    assert (result["ways"], result["shots"], result["episodes"]) == (5, 1, 4)
    assert 0.0 <= result["accuracy"] <= 1.0


def test_eval_unknown_preset_is_a_clear_error(preset_dir, capsys):
    assert cli.main(["eval", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Unknown preset 'nope'" in err and "'tiny_proto'" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [["list"], ["--help"], ["eval", "--help"]])
def test_list_and_help_start_without_tensorflow(argv):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from metazoo import cli\n"
        "try:\n"
        f"    cli.main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_errors_are_one_line_and_debug_shows_the_traceback(preset_dir, capsys):
    (preset_dir / "tiny_proto" / "config.json").write_text("[]")
    assert cli.main(["eval", "tiny_proto"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metazoo eval: error: ") and len(err.splitlines()) == 1
    assert "config.json' must hold a JSON object. Received: a list" in err
    with pytest.raises(ValueError, match="must hold a JSON object"):
        cli.main(["--debug", "eval", "tiny_proto"])


def test_unexpected_errors_are_one_line_too(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("first line\nsecond line")

    monkeypatch.setattr(cli, "cmd_list", boom)
    assert cli.main(["list"]) == 2
    assert capsys.readouterr().err == "metazoo list: error: RuntimeError: first line\n"


def test_a_missing_backend_library_names_the_extra_that_installs_it():
    import subprocess
    import sys

    # The Keras backend's library cannot be imported, as in a venv without it.
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None\n"
        "from metazoo import cli\n"
        "sys.exit(cli.main(['eval', 'protonet_omniglot', '--episodes', '2']))"
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "metazoo eval: error: Keras's backend 'tensorflow' needs tensorflow, which is not "
        "installed: pip install 'metazoo[tensorflow]', or run on another backend "
        "(KERAS_BACKEND=jax or KERAS_BACKEND=torch)"
    ]


def test_a_missing_data_dir_is_an_error(preset_dir, tmp_path, capsys):
    argv = ["eval", "tiny_proto", "--episodes", "2", "--data-dir", str(tmp_path / "nope")]
    assert cli.main(argv) == 2
    assert "does not exist. Received:" in capsys.readouterr().err


def _train_argv(output, *extra):
    return ["train", "protonet", "--episodes", "2", "--epoch-episodes", "1", "--filters", "2",
            "--eval-episodes", "0", "--output", str(output), *extra]  # fmt: skip


def test_train_output_never_loses_a_users_files(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    papers = work / "papers"
    papers.mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    (papers / "draft.tex").write_text("draft")
    monkeypatch.chdir(work)
    for output, extra, message in [
        (".", [], "would replace the current directory"),
        (".", ["--overwrite"], "would replace the current directory"),
        ("..", ["--overwrite"], "would replace a parent of the current directory"),
        (tmp_path, ["--overwrite"], "would replace a parent of the current directory"),
        (presets.BUILTIN_PRESETS_DIR, ["--overwrite"], "would replace a preset registry"),
        ("papers", [], "exists and is not empty; pass --overwrite"),
        ("papers", ["--overwrite"], "not one metazoo wrote"),
        ("notes.txt", ["--overwrite"], "exists and is not a folder"),
    ]:
        assert cli.main(_train_argv(output, *extra)) == 2, output
        err = capsys.readouterr().err
        assert message in err and len(err.splitlines()) == 1, (output, err)
    assert (work / "notes.txt").read_text() == "mine"
    assert (papers / "draft.tex").read_text() == "draft"
    assert sorted(p.name for p in work.iterdir()) == ["notes.txt", "papers"]


def test_eval_inner_steps_of_a_model_without_them_is_a_clear_error(preset_dir, capsys):
    assert cli.main(["eval", "tiny_proto", "--inner-steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "PrototypicalNetwork has no inner steps" in err and "inner_steps=3" in err
    assert len(err.splitlines()) == 1
    assert cli.main(["eval", "tiny_proto", "--inner-steps", "2", "--verification-pairs", "4"]) == 2
    assert "with --verification-pairs" in capsys.readouterr().err


def test_eval_bad_ways_is_a_clear_error(preset_dir, data_dir, capsys):
    argv = ["eval", "tiny_proto", "--ways", "5000", "--data-dir", str(data_dir)]
    assert cli.main(argv) == 2
    assert "ways must be <= the 1692 classes" in capsys.readouterr().err


def test_demo_writes_png(preset_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "episode.png"
    argv = ["demo", "--preset", "tiny_proto", "--episodes", "3", "--output", str(out),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main(argv) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Snell et al. 2017 report 98.8%" in capsys.readouterr().out


def test_train_protonet_writes_a_preset(data_dir, tmp_path):
    out = tmp_path / "p"
    argv = ["train", "protonet", "--ways", "5", "--shots", "1", "--queries", "2",
            "--episodes", "4", "--epoch-episodes", "2", "--filters", "4",
            "--eval-episodes", "2", "--same-alphabet-fraction", "0.5", "--output", str(out),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main(argv) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training"]["episodes"] == 4 and len(meta["evaluation"]) == 4
    assert "--same-alphabet-fraction 0.5" in meta["training"]["command"]
    assert meta["evaluation"][0]["paper"] == 0.988
    assert presets.load(out).count_params() == meta["parameters"]
    # The same --output again: refused, then replaced with --overwrite.
    assert cli.main(argv) == 2
    argv[argv.index("--eval-episodes") + 1] = "0"
    assert cli.main([*argv, "--overwrite"]) == 0
    assert json.loads((out / "metadata.json").read_text())["evaluation"] == []


@pytest.mark.data
def test_train_maml_resumes_and_writes_a_preset(data_dir, tmp_path, capsys):
    out = tmp_path / "m"
    argv = ["train", "maml", "--filters", "2", "--meta-batch", "2", "--steps", "2",
            "--epoch-steps", "1", "--eval-episodes", "2", "--eval-inner-steps", "1",
            "--output", str(out), "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main(argv) == 0
    meta = json.loads((out / "metadata.json").read_text())
    training = meta["training"]
    assert (training["meta_batch"], training["steps"], training["episodes"]) == (2, 2, 4)
    # The preset's own test steps, then the 10 of Finn et al.'s code, each in its command.
    records = meta["evaluation"]
    assert [(r["ways"], r["shots"], r["inner_steps"]) for r in records] == [
        (5, 1, 1), (5, 5, 1), (5, 1, 10), (5, 5, 10),
    ]  # fmt: skip
    assert [r["command"].split()[-2:] for r in records] == [["--inner-steps", "1"]] * 2 + [
        ["--inner-steps", "10"]
    ] * 2
    assert {r["paper"] for r in records[::2]} == {0.987}
    assert any("inner step" in d for d in training["differences_from_paper"])
    assert presets.load(out).count_params() == meta["parameters"]
    # `metazoo eval --inner-steps` measures a record again: the same episodes, the same score.
    capsys.readouterr()
    options = records[2]["command"].split()[3:]  # after "metazoo eval m"
    assert cli.main(["eval", str(out), *options, "--json", "--data-dir", str(data_dir)]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["inner_steps"], again["accuracy"]) == (10, records[2]["accuracy"])
    # Two more steps continue the backup from step 2 (its third epoch).
    capsys.readouterr()
    argv[argv.index("--steps") + 1] = "4"
    assert cli.main([*argv, "--overwrite"]) == 0
    out_text = capsys.readouterr().out
    assert "Epoch 3/4" in out_text and "Epoch 1/4" not in out_text


@pytest.mark.data
def test_train_protonet_lake_with_rotations(data_dir, tmp_path, capsys):
    out = tmp_path / "lake_rot"
    argv = ["train", "protonet", "--protocol", "lake", "--rotations", "--ways", "5",
            "--shots", "1", "--queries", "1", "--episodes", "2", "--epoch-episodes", "1",
            "--filters", "4", "--eval-episodes", "0", "--output", str(out),
            "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main(argv) == 0
    training = json.loads((out / "metadata.json").read_text())["training"]
    assert training["rotations"] is True and training["split"] == "background"
    assert cli.build_parser().parse_args(training["command"].split()[1:]).rotations
    # The Vinyals split has its rotations already: asking again is a clear error.
    argv[argv.index("lake")] = "vinyals"
    assert cli.main(argv[:-4] + ["--output", str(tmp_path / "v"), *argv[-2:]]) == 2
    assert "rotations applies to the Lake protocol" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


@pytest.mark.data
def test_train_protonet_adds_augmentation_and_centering_to_its_init_preset(data_dir, tmp_path):
    base = ["train", "protonet", "--protocol", "lake", "--ways", "5", "--shots", "1",
            "--queries", "1", "--episodes", "2", "--epoch-episodes", "1", "--filters", "4",
            "--eval-episodes", "0", "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main([*base, "--output", str(tmp_path / "p")]) == 0
    first = presets.load(tmp_path / "p")
    assert first.augmentation is None
    out = tmp_path / "p_aug"
    argv = [*base, "--init-preset", str(tmp_path / "p"), "--augment", "--center",
            "--learning-rate", "0", "--output", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    training = json.loads((out / "metadata.json").read_text())["training"]
    assert training["augmentation"].startswith("RandomAffine (Koch et al.)")
    assert training["preprocessing"].startswith("CenterInk")
    assert training["init_training"]["augmentation"] is None
    parsed = cli.build_parser().parse_args(training["command"].split()[1:])
    assert parsed.augment and parsed.center
    loaded = presets.load(out)
    assert isinstance(loaded.augmentation, RandomAffine)
    assert isinstance(loaded.preprocessing, CenterInk)
    # A learning rate of 0 keeps the starting weights: they came from the preset.
    kernel = first.backbone.get_layer("block0_conv").kernel.numpy()
    assert (loaded.backbone.get_layer("block0_conv").kernel.numpy() == kernel).all()


@pytest.mark.data
def test_train_siamese_writes_a_preset_and_resumes_only_its_own_run(data_dir, tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["train", "siamese", "--filters", "2", "--batch-size", "8", "--steps", "4",
            "--epoch-steps", "2", "--eval-episodes", "2", "--eval-pairs", "6", "--output",
            str(out), "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main(argv) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["training"]["split"] == "background" and meta["training"]["steps"] == 4
    assert [(r["protocol"], r.get("runs")) for r in meta["evaluation"]] == [
        ("lake-20way", 20),
        ("lake-20way", 80),
        ("lake", None),
        ("lake", None),
        ("verification", None),
        ("verification", None),
    ]
    verification = meta["evaluation"][-2:]
    assert [(r["pairs"], r["same_alphabet_fraction"]) for r in verification] == [(6, 0.0), (6, 1.0)]
    assert all(r["split"] == "evaluation" and 0 <= r["auc"] <= 1 for r in verification)
    # Each record's command measures it again.
    argv_eval = verification[-1]["command"].split()[1:] + ["--json", "--data-dir", str(data_dir)]
    argv_eval[1] = str(out)
    capsys.readouterr()
    assert cli.main(argv_eval) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {k: again[k] for k in verification[-1] if k != "command"} == {
        k: v for k, v in verification[-1].items() if k != "command"
    }
    assert presets.load(out).count_params() == meta["parameters"]
    # The same command again resumes its finished backup; other settings are refused.
    assert cli.main(argv + ["--overwrite"]) == 0
    assert cli.main(argv + ["--overwrite", "--same-alphabet-fraction", "0.0"]) == 2
    assert "belongs to another run: the training data settings" in capsys.readouterr().err


@pytest.mark.data
def test_train_siamese_from_a_preset_with_rotations(data_dir, tmp_path, capsys):
    base = ["train", "siamese", "--filters", "2", "--batch-size", "8", "--steps", "2",
            "--epoch-steps", "1", "--eval-episodes", "0", "--data-dir", str(data_dir)]  # fmt: skip
    assert cli.main([*base, "--output", str(tmp_path / "s")]) == 0
    first = presets.load(tmp_path / "s")
    out = tmp_path / "s_rot"
    argv = [*base, "--init-preset", str(tmp_path / "s"), "--rotations", "--center",
            "--learning-rate", "0", "--output", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    training = json.loads((out / "metadata.json").read_text())["training"]
    assert training["rotations"] is True and training["split"] == "background"
    assert training["init_preset"] == "s" and training["init_training"]["rotations"] is False
    parsed = cli.build_parser().parse_args(training["command"].split()[1:])
    assert parsed.rotations and parsed.center and parsed.init_preset == str(tmp_path / "s")
    # A learning rate of 0 keeps the starting weights: they came from the preset,
    # the distance weights too; centring was added.
    kernel = first.backbone.get_layer("block0_conv").kernel.numpy()
    loaded = presets.load(out)
    assert (loaded.backbone.get_layer("block0_conv").kernel.numpy() == kernel).all()
    assert (loaded.head.kernel.numpy() == first.head.kernel.numpy()).all()
    assert isinstance(loaded.preprocessing, CenterInk) and first.preprocessing is None
    # Another architecture than the preset's is refused before any training.
    assert cli.main([*argv[:-1], str(tmp_path / "x"), "--filters", "4"]) == 2
    assert "architecture comes from init_preset" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.data
def test_eval_verification_pairs_json_and_clear_errors(preset_dir, data_dir, capsys):
    from metazoo.algorithms import SiameseNetwork

    presets.save_preset(
        SiameseNetwork(Conv4(filters=2)),
        preset_dir / "tiny_siamese",
        {"description": "an untrained tiny Siamese net", "kind": "few_shot_classifier",
         "training": {"algorithm": "siamese", "protocol": "lake", "image_size": 28}},
        export=False,
    )  # fmt: skip
    common = ["--json", "--data-dir", str(data_dir)]
    argv = ["eval", "tiny_siamese", "--verification-pairs", "10", "--same-alphabet-fraction", "1"]
    assert cli.main(argv + common) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["preset"] == "tiny_siamese" and result["protocol"] == "verification"
    assert (result["split"], result["pairs"], result["same_alphabet_fraction"]) == (
        "evaluation",
        10,
        1.0,
    )
    assert 0 <= result["accuracy"] <= 1 and 0 <= result["auc"] <= 1
    for bad, message in [
        (["eval", "tiny_proto", "--verification-pairs", "10"], "Received: a PrototypicalNetwork"),
        (argv[:2] + ["--verification-pairs", "0"], "--verification-pairs must be a positive"),
        (argv + ["--lake-runs", "runs"], "ask for one"),
        (["eval", "tiny_siamese", "--same-alphabet-fraction", "1"], "applies to --verification"),
        (argv[:2] + ["--verification-pairs", "4", "--same-alphabet-fraction", "2"],
         "same_alphabet_fraction must be a number in [0, 1]"),
    ]:  # fmt: skip
        assert cli.main(bad + common) == 2
        assert message in capsys.readouterr().err


def test_eval_fixed_way_model_with_other_ways_is_a_clear_error(tmp_path, data_dir, capsys):
    from metazoo.algorithms import MetaLSTM

    presets.save_preset(
        MetaLSTM(Conv4(filters=2), ways=5, inner_steps=1),
        tmp_path / "tiny_meta_lstm",
        {"description": "tiny", "kind": "few_shot_classifier",
         "training": {"algorithm": "meta_lstm", "protocol": "vinyals", "image_size": 28}},
        export=False,
    )  # fmt: skip
    argv = ["eval", str(tmp_path / "tiny_meta_lstm"), "--ways", "10", "--data-dir", str(data_dir)]
    assert cli.main(argv) == 2
    assert "classifies exactly 5 ways" in capsys.readouterr().err


@pytest.mark.data
def test_train_meta_lstm_from_a_preset_records_a_rerunnable_command(data_dir, tmp_path, capsys):
    common = ["--queries", "2", "--epoch-episodes", "1", "--filters", "2", "--hidden-units", "2",
              "--eval-episodes", "2", "--data-dir", str(data_dir)]  # fmt: skip
    first = tmp_path / "one_shot"
    argv = ["train", "meta_lstm", "--episodes", "1", "--inner-steps", "1"]
    assert cli.main(argv + common + ["--output", str(first)]) == 0
    second = tmp_path / "five_shot"
    argv = ["train", "meta_lstm", "--shots", "5", "--episodes", "2", "--inner-steps", "2"]
    argv += ["--init-preset", str(first), "--learning-rate", "0.004", "--decay-every", "1"]
    # The first run was scored (2 episodes per setting); this one is not (the last option wins).
    assert cli.main(argv + common + ["--eval-episodes", "0", "--output", str(second)]) == 0
    assert [r["episodes"] for r in presets.load_metadata(first)["evaluation"]] == [2, 2]
    assert presets.load_metadata(second)["evaluation"] == []
    training = json.loads((second / "metadata.json").read_text())["training"]
    assert training["init_preset"] == "one_shot" and training["inner_steps"] == 2
    assert training["optimizer"].startswith("Adam(0.004), halved every 1 episodes")
    # The starting preset's own training record travels along (its lineage).
    assert training["init_training"]["shots"] == 1 and training["init_training"]["episodes"] == 1
    # The recorded command parses back to the same run.
    recorded = cli.build_parser().parse_args(training["command"].split()[1:])
    assert (recorded.init_preset, recorded.shots, recorded.inner_steps) == (str(first), 5, 2)
    assert recorded.decay_every == 1
    model = presets.load(second)
    # Two episodes, halved after each: the saved optimizer is at 0.004 / 4.
    schedule = model.optimizer.learning_rate
    assert float(schedule) == pytest.approx(0.001)
    assert model.inner_steps == 2 and model.count_params() == presets.load(first).count_params()
    # The architecture is the preset's: asking for another one is a clear error.
    other = list(common)
    other[other.index("--filters") + 1] = "4"
    argv = ["train", "meta_lstm", "--episodes", "1", "--init-preset", str(first)]
    assert cli.main(argv + other + ["--output", str(tmp_path / "x")]) == 2
    assert "'filters': 2" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_train_from_another_kind_of_preset_is_a_clear_error(tmp_path, capsys):
    from metazoo.algorithms import MetaLSTM, PrototypicalNetwork

    meta = {"description": "tiny", "kind": "few_shot_classifier", "training": {}}
    proto = PrototypicalNetwork(Conv4(filters=2))
    presets.save_preset(proto, tmp_path / "proto", meta, export=False)
    lstm = MetaLSTM(Conv4(filters=2), ways=5, inner_steps=1)
    presets.save_preset(lstm, tmp_path / "lstm", meta, export=False)
    for recipe, start, wanted in [
        ("meta_lstm", "proto", "MetaLSTM"),
        ("protonet", "lstm", "PrototypicalNetwork"),
        ("siamese", "proto", "SiameseNetwork"),
    ]:
        argv = ["train", recipe, "--filters", "2", "--init-preset", str(tmp_path / start)]
        assert cli.main([*argv, "--output", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert f"init_preset must be a {wanted} preset" in err, err
        assert type(presets.load(tmp_path / start)).__name__ in err
        assert not (tmp_path / "x").exists()
