"""gasleak entry point: ``python main.py --mode demo|serve|train|evaluate|keys``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import tempfile
from pathlib import Path


def _positive(text: str) -> float:
    """argparse type: a finite number > 0 (``--speed``); otherwise exit 2 naming the value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return value


def _port(text: str) -> int:
    """argparse type: a TCP port number, 0-65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {value}")
    return value


def listen_error(host: str, port: int) -> str | None:
    """The one-line start-up error when ``host``:``port`` cannot be listened on (in use,
    not an address of this machine, not allowed), or None. Checked before the model loads:
    found by uvicorn, the same failure printed three tracebacks after the model's ~7 s
    load (README newcomer of 8 Dec). The socket is closed again at once, so another
    process can still take the port before the server binds it (then uvicorn's error)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; see ``python main.py --help``."""
    p = argparse.ArgumentParser(description="gasleak: real-time gas-leak detection service")
    p.add_argument("--mode", choices=["demo", "serve", "train", "evaluate", "keys"], default="demo")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=8080, help="TCP port, 0-65535")
    p.add_argument("--artifacts-dir", type=Path, default=None, help="model folder")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    demo = p.add_argument_group("demo")
    demo.add_argument("--devices", type=int, default=6, help="simulated devices")
    demo.add_argument(
        "--speed",
        type=_positive,
        default=10.0,
        help="readings/s per device; readings are 1 simulated s apart, so 10 runs 10x real time",
    )
    demo.add_argument("--duration", type=float, default=None, help="stop after seconds")
    demo.add_argument("--replay", type=Path, default=None, help="CSV recording to replay")
    demo.add_argument(
        "--rows", default=None, help="data rows a:b of the CSV, 0-based, b excluded (default: all)"
    )
    demo.add_argument(
        "--loop", action="store_true", help="replay the rows again and again (no closing summary)"
    )
    demo.add_argument("--gas-col", default="eCO2[ppm]")
    demo.add_argument("--temp-col", default="Temperature[C]")
    demo.add_argument("--rh-col", default="Humidity[%]")
    keys = p.add_argument_group("keys (create | list | revoke KEY_ID)")
    keys.add_argument("keys_command", nargs="*", metavar="create|list|revoke KEY_ID")
    keys.add_argument("--role", default=None, help="admin, operator, viewer or gateway")
    keys.add_argument("--name", default=None, help="what the key is for")
    keys.add_argument(
        "--device-prefix", default=None, help="gateway keys: only device ids starting with this"
    )
    train = p.add_argument_group("train / evaluate")
    # the defaults are app.ml.model.ModelConfig's (not imported here: it needs torch;
    # tests/test_demo_cli.py checks the two agree)
    train.add_argument("--epochs", type=int, default=None, help="autoencoder epochs (20)")
    train.add_argument(
        "--finetune-epochs", type=int, default=None, help="supervised fine-tuning epochs (10)"
    )
    train.add_argument("--data-dir", type=Path, default=None, help="default ../shared/data")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument(
        "--report-dir",
        type=Path,
        default=Path("docs/evaluation"),
        help="evaluation output; docs/evaluation also updates README's tables",
    )
    train.add_argument(
        "--lodo",
        action="store_true",
        help="evaluate: also run leave-one-dataset-out (trains 3 models)",
    )
    train.add_argument("--lodo-epochs", type=int, default=None, help="LODO autoencoder epochs (5)")
    train.add_argument(
        "--lodo-finetune-epochs", type=int, default=None, help="LODO fine-tuning epochs (3)"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen mode; returns the process exit code."""
    args = parse_args(argv)
    if args.keys_command and args.mode != "keys":
        print(f"gasleak: unexpected {' '.join(args.keys_command)!r}", file=sys.stderr)
        return 2
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=fmt)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per demo POST otherwise
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from app.config import Settings, setting_errors, unknown_settings

    overrides = {
        k: v
        for k, v in {"artifacts_dir": args.artifacts_dir, "device": args.device}.items()
        if v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # e.g. a bootstrap admin key under 32 characters
        for line in setting_errors(exc):
            print(f"gasleak: {line}", file=sys.stderr)
        return 2
    except SettingsError as exc:  # a source that cannot be parsed at all: no traceback
        print(f"gasleak: bad setting: {exc}", file=sys.stderr)
        return 2
    env_file = Path(str(Settings.model_config.get("env_file") or ".env"))
    names = list(os.environ)
    if env_file.is_file():  # pydantic-settings reads it too, with the same prefix
        from dotenv import dotenv_values

        names += list(dotenv_values(env_file))
    for line in unknown_settings(names):  # a mistyped name is otherwise silently ignored
        logging.getLogger("gasleak").warning("%s", line)
    if args.mode == "keys":
        from app.keys_cli import run_keys

        return asyncio.run(
            run_keys(
                args.keys_command,
                role=args.role,
                name=args.name,
                device_prefix=args.device_prefix,
                settings=settings,
            )
        )
    if args.mode == "train":
        from app.training.train import run_train

        args.artifacts_dir = settings.artifacts_dir
        return run_train(args)
    if args.mode == "evaluate":
        from app.training.evaluate import run_evaluate

        return run_evaluate(args)
    if args.mode == "serve":
        import uvicorn

        if (why := window_mismatch(settings) or listen_error(args.host, args.port)) is not None:
            print(f"gasleak: {why}", file=sys.stderr)
            return 2

        from app.main import create_app

        uvicorn.run(create_app(settings), host=args.host, port=args.port)
        return 0
    return _demo(args, settings)


def window_mismatch(settings) -> str | None:  # noqa: ANN001
    """The one-line start-up error of a ``GASLEAK_WINDOW`` that differs from the shipped
    model's window (``manifest.json``), or None. Checked before the server starts: found in
    the lifespan, the same refusal (``app.state.ModelMismatch``) is printed by uvicorn as a
    traceback. A missing or bad manifest is left to the start-up, which names the file."""
    if settings.window is None or not settings.model_enabled:
        return None
    from app.ml.artifacts import ArtifactError, load_manifest

    try:
        window = load_manifest(settings.artifacts_dir)["window"]
    except ArtifactError:
        return None
    if window == settings.window:
        return None
    return (
        f"bad setting GASLEAK_WINDOW={settings.window}: the model in {settings.artifacts_dir} "
        f"was trained on windows of {window} readings; unset GASLEAK_WINDOW or set it to "
        f"{window}, or train a model with that window"
    )


def _demo(args: argparse.Namespace, settings) -> int:  # noqa: ANN001
    from app.demo import DemoOptions, run_demo
    from app.demo_replay import ReplayError, load_replay, parse_rows

    replay_data = None
    try:  # check the replay before training a model or starting a server
        rows = parse_rows(args.rows) if args.rows else None
        if args.replay is not None:
            replay_data = load_replay(args.replay, (args.gas_col, args.temp_col, args.rh_col), rows)
        elif args.rows:
            raise ReplayError("--rows needs --replay FILE")
    except ReplayError as exc:
        print(f"gasleak demo: error: {exc}", file=sys.stderr)
        return 2
    if (why := listen_error(args.host, args.port)) is not None:
        print(f"gasleak demo: error: {why}", file=sys.stderr)
        return 2
    if not (settings.artifacts_dir / "manifest.json").exists():
        print(f"no model in {settings.artifacts_dir}: training one first")
        from app.training.train import run_train

        args.artifacts_dir = settings.artifacts_dir
        if run_train(args) != 0:
            return 1
    if (why := window_mismatch(settings)) is not None:
        print(f"gasleak demo: {why}", file=sys.stderr)
        return 2
    opts = DemoOptions(
        host=args.host,
        port=args.port,
        devices=args.devices,
        speed=args.speed,
        duration_s=args.duration,
        replay=args.replay,
        replay_rows=rows,
        gas_col=args.gas_col,
        temp_col=args.temp_col,
        rh_col=args.rh_col,
        loop=args.loop,
    )
    with contextlib.ExitStack() as stack:
        if not {"GASLEAK_DB_PATH", "GASLEAK_DATABASE_URL"} & set(os.environ):
            # A demo starts clean: alerts left open by an earlier demo run would otherwise be
            # restored from data/gasleak.db. The folder is removed on exit (Ctrl-C included).
            # Set GASLEAK_DB_PATH to keep a demo's store.
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="gasleak-demo-"))
            settings = settings.model_copy(update={"db_path": Path(tmp) / "demo.db"})
            print(f"demo store: {settings.db_path} (removed on exit)")
        # uvicorn re-raises the SIGTERM/SIGINT it caught once it has shut down; as an
        # exception (not the default "terminate now") it lets the store folder be removed.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            asyncio.run(run_demo(opts, settings, replay_data))
        except KeyboardInterrupt:
            print("stopped")
    return 0


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
