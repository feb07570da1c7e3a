"""The `keras-meta` command line.

Commands: demo, bench (lr, select), meta-train, meta-eval, horizon-bias,
model-card, overhead, inspect.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys


def main(argv=None) -> int:
    """Entry point of the `keras-meta` command.

    Args:
        argv: List of strings, or `None` for `sys.argv[1:]`.

    Returns:
        The exit status.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 2
    return args.handler(args)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-meta", description="Meta-learned learning-rate control for Keras.")
    commands = parser.add_subparsers(dest="command")

    demo = commands.add_parser("demo", help="train a model with constant Adam and with MetaLRCallback")
    demo.add_argument("--output", default="demo_output", help="folder for the plot (default: demo_output)")
    demo.add_argument("--policy", default="default", help="policy name or directory (default: default)")
    demo.add_argument("--epochs", type=int, default=30, help="epochs per run (default: 30)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the split and weights (default: 0)")
    demo.set_defaults(handler=_run_demo)

    overhead = commands.add_parser("overhead", help="time fit with MetaLRCallback / without it, in fresh processes")
    overhead.add_argument("--repeats", type=int, default=9, help="runs of each variant (default: 9)")
    overhead.add_argument("--epochs", type=int, default=20, help="epochs per timed fit (default: 20)")
    overhead.add_argument("--json", help="also write the measurements to this JSON file")
    overhead.set_defaults(handler=_run_overhead)

    bench = commands.add_parser(
        "bench",
        help="benchmark MetaLRCallback against Keras's usual schedules ('bench select': the model selector)",
    )
    bench.add_argument(
        "suite",
        nargs="?",
        choices=("lr", "select"),
        default="lr",
        help="lr: learning-rate control (default); select: MetaModelSelector against keras-tuner",
    )
    bench.add_argument("--output", default="bench_output", help="folder for cache, report, plots")
    bench.add_argument("--quick", action="store_true", help="a small subset with 1 seed")
    bench.add_argument(
        "--seeds",
        type=int,
        help="seeds 0..N-1 on every task (default: lr 3, or 10 on a task whose test set has "
        "under 200 samples; select 2; 1 with --quick)",
    )
    bench.add_argument("--workers", type=int, default=2, help="worker processes (default: 2; 0 = none)")
    bench.add_argument("--policy", default="default", help="policy name or directory (default: default)")
    bench.add_argument("--tasks", help="lr only: a Python file defining TASKS (and optionally METHODS)")
    bench.add_argument("--task", action="append", dest="task_names", help="run only this task (repeatable)")
    bench.add_argument("--max-epochs", type=int, help="select only: epochs of a full trial (default: 15)")
    bench.add_argument("--pool", type=int, default=16, help="select only: reference configurations (default: 16)")
    bench.set_defaults(handler=_run_bench)

    meta_train = commands.add_parser("meta-train", help="meta-train a policy on synthetic task families")
    meta_train.add_argument(
        "--output", default="meta_output", help="run folder; rerun to resume (default: meta_output)"
    )
    meta_train.add_argument("--config", help="a JSON file of MetaTrainConfig fields")
    meta_train.add_argument("--seed", type=int, help="overrides the config's seed")
    meta_train.add_argument("--rounds", type=int, help="overrides the config's DAgger rounds")
    meta_train.add_argument("--rollouts", type=int, dest="rollouts_per_round", help="rollouts per round")
    meta_train.add_argument("--workers", type=int, help="rollout processes (0 = none)")
    meta_train.set_defaults(handler=_run_meta_train)

    heldout = commands.add_parser(
        "meta-eval", help="compare policies end to end on held-out synthetic tasks (the meta-training dev set)"
    )
    heldout.add_argument("--policy", action="append", required=True, help="policy name or directory; repeatable")
    heldout.add_argument("--config", help="a meta-training config whose task family is drawn from")
    heldout.add_argument("--tasks", type=int, default=24, help="held-out tasks (default: 24)")
    heldout.add_argument("--workers", type=int, default=2, help="processes (0 = none; default: 2)")
    heldout.add_argument(
        "--start",
        choices=("drawn", "default"),
        default="drawn",
        help="start from each task's drawn rate (default), or from its optimizer's Keras default "
        "with a small cosine grid around it, as the benchmark does",
    )
    heldout.add_argument("--json", help="also write the result to this JSON file")
    heldout.set_defaults(handler=_run_meta_eval)

    bias = commands.add_parser("horizon-bias", help="do the look-ahead labels prefer too small rates? a measurement")
    bias.add_argument("--tasks", type=int, default=6, help="meta-training tasks to measure on (default: 6)")
    bias.add_argument("--horizon", type=int, default=20, help="look-ahead steps (default: 20)")
    bias.add_argument("--cooldown", type=int, default=10, help="cool-down steps; 0 for none (default: 10)")
    bias.add_argument("--max-steps", type=int, default=600, help="longest run (default: 600)")
    bias.add_argument("--grid", type=float, nargs="+", help="rates of the grid (default: 1e-4 ... 1e-1)")
    bias.add_argument("--policy", help="also measure MetaLRCallback with this policy from each task's start")
    bias.add_argument("--json", help="also write the result to this JSON file")
    bias.set_defaults(handler=_run_horizon_bias)

    ensemble = commands.add_parser("ensemble", help="average meta-trained policies of one recipe into one policy")
    ensemble.add_argument("policies", nargs="+", help="two or more policy names or directories")
    ensemble.add_argument("--name", required=True, help="the ensemble's name")
    ensemble.add_argument("--act-every", type=int, help="act at every K-th decision only (default: the first's card)")
    ensemble.add_argument(
        "--fit-guard",
        type=float,
        help="no climb once the loss is below exp(-G) of its start (default: the first's card)",
    )
    ensemble.add_argument(
        "--lr-floor",
        type=float,
        help="while val_loss improves, no fall below C x a linear decay (default: the first's card)",
    )
    ensemble.add_argument(
        "--climb-ramp",
        type=float,
        help="above the default rate, at most one doubling per R of the run (default: the first's card)",
    )
    ensemble.add_argument(
        "--climb-ramp-steps",
        type=float,
        help="a second ramp, one doubling per S steps; the faster binds (default: the first's card)",
    )
    ensemble.add_argument("--output", required=True, help="the policy directory to write")
    ensemble.set_defaults(handler=_run_ensemble)

    card = commands.add_parser("model-card", help="write a policy's MODEL_CARD.md (with a bench report's tables)")
    card.add_argument("policy", help="policy directory")
    card.add_argument("--bench", help="a keras-meta bench report.md to include")
    card.set_defaults(handler=_run_model_card)

    inspect = commands.add_parser("inspect", help="show a policy's card")
    inspect.add_argument("policy", nargs="?", default="default", help="policy name or directory")
    inspect.set_defaults(handler=_run_inspect)
    return parser


def _run_demo(args) -> int:
    from keras_meta.demo import format_demo
    from keras_meta.demo import run_demo

    print(format_demo(run_demo(args.output, policy=args.policy, epochs=args.epochs, seed=args.seed)))
    return 0


def _run_overhead(args) -> int:
    from keras_meta.bench.overhead import format_report
    from keras_meta.bench.overhead import measure_overhead

    result = measure_overhead(repeats=args.repeats, epochs=args.epochs)
    print(format_report(result))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return 0


def _run_bench(args) -> int:
    command = "keras-meta " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    if args.suite == "select":
        from keras_meta.bench.selection import run_selection_benchmark

        report = run_selection_benchmark(
            args.output,
            quick=args.quick,
            seeds=args.seeds,
            workers=args.workers,
            policy=args.policy,
            pool_size=args.pool,
            task_names=args.task_names,
            max_epochs=args.max_epochs,
            command=command,
        )
        print(f"Report: {report}")
        return 0
    from keras_meta.bench.suite import run_benchmark

    report = run_benchmark(
        args.output,
        quick=args.quick,
        seeds=args.seeds,
        workers=args.workers,
        policy=args.policy,
        task_file=args.tasks,
        task_names=args.task_names,
        command=command,
    )
    print(f"Report: {report}")
    return 0


def _run_meta_train(args) -> int:
    from keras_meta.meta.pipeline import MetaTrainConfig
    from keras_meta.meta.pipeline import run_meta_training

    values = json.loads(pathlib.Path(args.config).read_text()) if args.config else {}
    for key in ("seed", "rounds", "rollouts_per_round", "workers"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    policy = run_meta_training(MetaTrainConfig.from_dict(values), args.output)
    print(repr(policy))
    print(json.dumps(policy.card["evaluation"], indent=2))
    print(f"Policy: {os.path.join(args.output, 'policy')}")
    return 0


def _run_meta_eval(args) -> int:
    from keras_meta.meta.heldout import compare_on_heldout
    from keras_meta.meta.heldout import format_heldout
    from keras_meta.meta.pipeline import MetaTrainConfig

    values = json.loads(pathlib.Path(args.config).read_text()) if args.config else {}
    config = MetaTrainConfig.from_dict(values)
    result = compare_on_heldout(args.policy, config, tasks=args.tasks, workers=args.workers, start=args.start)
    print(format_heldout(result))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _run_horizon_bias(args) -> int:
    from keras_meta.meta.bias import BIAS_SEED_BASE
    from keras_meta.meta.bias import GRID
    from keras_meta.meta.bias import format_bias
    from keras_meta.meta.bias import measure_horizon_bias
    from keras_meta.meta.lookahead import LookaheadConfig

    result = measure_horizon_bias(
        range(BIAS_SEED_BASE, BIAS_SEED_BASE + args.tasks),
        LookaheadConfig(horizon=args.horizon, cooldown=args.cooldown),
        grid=tuple(args.grid or GRID),
        max_steps=args.max_steps,
        policy=args.policy,
    )
    print(format_bias(result))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _run_ensemble(args) -> int:
    from keras_meta.meta.ensemble import build_ensemble
    from keras_meta.policy import PolicyError

    try:
        policy = build_ensemble(
            args.policies,
            args.name,
            args.act_every,
            args.fit_guard,
            args.lr_floor,
            args.climb_ramp,
            args.climb_ramp_steps,
        )
    except (PolicyError, ValueError) as error:
        print(f"keras-meta ensemble: {error}", file=sys.stderr)
        return 1
    print(f"{policy!r}\nPolicy: {policy.save(args.output)}")
    return 0


def _run_model_card(args) -> int:
    from keras_meta.model_card import write_model_card

    print(f"Model card: {write_model_card(args.policy, args.bench)}")
    return 0


def _run_inspect(args) -> int:
    from keras_meta.policy import PolicyError
    from keras_meta.policy import load_policy

    try:
        policy = load_policy(args.policy)
    except PolicyError as error:
        print(f"keras-meta inspect: {error}", file=sys.stderr)
        return 1
    print(repr(policy))
    card = {key: value for key, value in policy.card.items() if key != "feature_spec"}
    print(json.dumps(card, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
