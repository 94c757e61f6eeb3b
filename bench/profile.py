"""Profile the natsrpc hot paths under load: ``python -m bench.profile``.

Runs one scenario (default: unary 100 B at concurrency 64, natsrpc) as the
bench does, and during the measured window samples the server and the load
process with py-spy (``pip install py-spy``). Only samples in which a process
was on CPU count, so time blocked in epoll or descheduled is left out (cProfile
measures wall time, which on a busy 2-core machine mostly measures the
scheduler). Prints, per process, the functions with the most samples of their
own ("self") and the natsrpc functions by inclusive share.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stubs
from bench.loops import LOOPS
from bench.run import SCENARIOS, Run, Settings
from natsrpc.testing import NatsServer


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy not found: pip install py-spy")
    return found


def record(pid: int, seconds: float, out: Path, rate: int) -> subprocess.Popen[bytes]:
    command = [py_spy(), "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--rate", str(rate), "--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _function(frame: str) -> str:
    """``name (path:line)`` without the line: samples add up per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarize(path: Path, top: int, focus: str) -> str:
    """Self and inclusive sample shares per function, from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    lines_own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
        total += count
        if frames:
            own[_function(frames[-1])] += count
            for frame in reversed(frames):  # the innermost line of focus code on the stack
                if focus in frame:
                    lines_own[frame] += count
                    break
        for function in {_function(f) for f in frames}:
            inclusive[function] += count
    share = 100 / max(total, 1)
    out = [f"{total} samples on CPU", "  self%  function"]
    out += [f"  {n * share:5.1f}  {f}" for f, n in own.most_common(top)]
    out.append(f"  incl%  functions in {focus}")
    focused = [(f, n) for f, n in inclusive.most_common() if focus in f]
    out += [f"  {n * share:5.1f}  {f}" for f, n in focused[:top]]
    out.append(f"  incl%  lines in {focus} (samples charged to the innermost such line)")
    out += [f"  {n * share:5.1f}  {f}" for f, n in lines_own.most_common(top)]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--scenario", default="unary-100B-c64")
    parser.add_argument("--contender", default="natsrpc")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--focus", default="natsrpc/", help="path fragment for the inclusive list")
    parser.add_argument("--out", type=Path, help="keep the collapsed stacks here")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    args = parser.parse_args()
    scenario = next(s for s in SCENARIOS if s.key == args.scenario)
    with tempfile.TemporaryDirectory(prefix="natsrpc-profile-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        generated = stubs.generate(Path(tmp) / "stubs")
        settings = Settings(1.0, args.duration, 0, 1000, 1, generated.directory, False)
        run = Run(scenario, args.contender, settings, args.loop)
        with NatsServer() as nats:
            try:
                port = run.start_servers(nats.url)
                run.start_loads(nats.url, port)
                time.sleep(settings.warmup)
                pids = {"server": run.servers[0].process.pid, "client": run.loads[0].process.pid}
                samplers = {
                    role: record(pid, args.duration, out / f"{role}.txt", args.rate)
                    for role, pid in pids.items()
                }
                run.loads[0].send("measure")
                for sampler in samplers.values():
                    _, errors = sampler.communicate()
                    if sampler.returncode:
                        raise SystemExit(f"py-spy failed: {errors.decode(errors='replace')}")
                run.loads[0].send("stop")
                result = run.loads[0].expect("result", timeout=120)
            finally:
                run.finish()
        rate = result["count"] / result["seconds"]
        print(f"{scenario.title}, {args.contender}, {args.loop}, sampled by py-spy: "
              f"{rate:,.0f} {scenario.unit}")  # fmt: skip
        for role in ("server", "client"):
            print(f"\n=== {role} ===")
            print(summarize(out / f"{role}.txt", args.top, args.focus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
