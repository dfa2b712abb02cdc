"""The CLI's shared model flags (cli/model_arguments.py) and `train`'s flags generated from TrainOptions."""

from __future__ import annotations

import dataclasses

import pytest

from mamba_tracking_ros.cli.main import build_parser
from mamba_tracking_ros.cli.model_arguments import checkpoint_from_args
from mamba_tracking_ros.cli.train_command import train_options_from_args
from mamba_tracking_ros.model.checkpoint import checkpoint_choice
from mamba_tracking_ros.train.engine import TrainOptions

#: A minimal valid command line per command that takes the model flags.
COMMANDS = {
    "demo": ["demo"],
    "replay": ["replay", "some.bag"],
    "eval": ["eval", "--dataset", "project", "--root", "data", "--results", "out"],
    "track": ["track", "clip.avi", "--box", "1,2,3,4"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_reads_checkpoint_and_device_the_same_way(command: str, capsys) -> None:
    """'none' / '' mean random init, 'default' the shipped weights; a device this machine lacks is refused."""
    parser = build_parser()
    base = COMMANDS[command]
    args = parser.parse_args(base)
    assert (args.config, args.checkpoint, args.device) == ("small", "default", "auto")
    assert checkpoint_from_args(args) == "default"
    for word in ("none", "NONE", "", " none "):
        assert checkpoint_from_args(parser.parse_args([*base, "--checkpoint", word])) is None
    assert checkpoint_from_args(parser.parse_args([*base, "--checkpoint", "w/model.pt"])) == "w/model.pt"
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([*base, "--device", "cuda:7"])  # no GPU here (and never 8 in CI)
    assert exc.value.code == 2 and "--device" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--device", "tpu"])


def test_checkpoint_words() -> None:
    """The one reading of the checkpoint word (CLI, node parameter, launch argument)."""
    assert checkpoint_choice(None) is None and checkpoint_choice("None") is None
    assert checkpoint_choice("default") == "default" and checkpoint_choice(" a.pt ") == "a.pt"


def test_train_flags_are_generated_from_train_options(capsys) -> None:
    """Every TrainOptions field with cli metadata is a flag with the dataclass default; values round-trip."""
    parser = build_parser()
    args = parser.parse_args(["train", "--data", "project:d", "--out", "o"])
    assert train_options_from_args(args) == TrainOptions(data=["project:d"], out="o")
    flagged = [f for f in dataclasses.fields(TrainOptions) if "cli" in f.metadata]
    assert len(flagged) >= 30 and {f.name for f in dataclasses.fields(TrainOptions)} - {
        f.name for f in flagged
    } == {"min_lr_ratio", "command", "loss_weights"}
    args = parser.parse_args(
        [
            "train",
            "--data",
            "project:a",
            "--data",
            "lasot:b",
            "--out",
            "o",
            "--init-modes",
            "box,text",
            "--warmup",
            "0.1",
            "--no-progress",
            "--no-modality-dropout",
            "--freeze-stem",
            "--time-limit-min",
            "5",
            "--amp",
            "off",
        ]
    )
    opts = train_options_from_args(args, command="x")
    assert opts.data == ["project:a", "lasot:b"] and opts.init_modes == ("box", "text")
    assert (opts.warmup, opts.progress, opts.modality_dropout, opts.freeze_stem) == (0.1, False, False, True)
    assert (opts.time_limit_min, opts.amp, opts.command) == (5.0, "off", "x")
    for bad in (["--warmup", "2"], ["--amp", "fp8"], ["--steps", "many"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "--data", "project:d", "--out", "o", *bad])
    assert "--warmup" in capsys.readouterr().err


def test_every_train_flag_is_documented() -> None:
    """docs/training.md's flag table names every generated `train` flag (and no flag that does not exist)."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    table = doc[doc.index("| flag |", doc.index("## Flags")) :].split("\n\n")[0]
    documented = set(re.findall(r"`(--[a-z-]+)", table))
    flags = {
        f.metadata["cli"].get("flag", "--" + f.name.replace("_", "-"))
        for f in dataclasses.fields(TrainOptions)
        if "cli" in f.metadata
    }
    assert documented == flags


def test_train_checks_device_like_every_command(capsys) -> None:
    """`train --device` goes through the same check as the other commands' --device."""
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["train", "--data", "project:d", "--out", "o", "--device", "cuda:7"])
    assert exc.value.code == 2 and "--device" in capsys.readouterr().err
