"""The `otlp` section: c=16 throughput with OpenTelemetry export on (a second daemon started with
OTEL_EXPORTER_OTLP_ENDPOINT pointing at an OTLP/HTTP receiver in this process) against the bench's
own daemon without it, same endpoint shape, interleaved rounds."""

from __future__ import annotations

import contextlib
from typing import Any

from inferpipe_testing.daemon import cleanup, make_daemon
from inferpipe_testing.otlp_receiver import OtlpReceiver

from .harness import DAEMON_START_WAIT, Bench
from .load import LoadSpec, run_load
from .stats import ratio, rnd

OTLP_RATIO = 0.9
CONCURRENCY = 16
BODY = 64


def section_otlp(ctx: Any) -> Any:
    from .sections import Phase, Row, SectionResult, fmt

    out = SectionResult("otlp")
    base: Bench = ctx.bench
    with OtlpReceiver(keep=False) as receiver:
        daemon = make_daemon(
            prefix="inferpipe-bench-otlp-",
            INFERPIPE_MAX_STARTUP_HEALTH_TIMEOUT="60",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        )
        traced: Bench | None = None
        try:
            daemon.start(wait=DAEMON_START_WAIT)
            # container names are per engine, not per home: the second endpoint needs its own name
            traced = Bench(
                daemon,
                quick=ctx.quick,
                duration=ctx.duration,
                requests=ctx.requests,
                endpoint="bench-otlp-echo3",
                model="bench-otlp-echo3",
                config="bench-otlp-echo3-1",
            )
            traced.setup()
            sides = {"off": (base, Phase()), "on": (traced, Phase())}
            per_round = ctx.duration / ctx.rounds
            requests = None if ctx.requests is None else max(1, ctx.requests // ctx.rounds)
            order = [("off", "on"), ("on", "off")]
            for r in range(ctx.rounds):
                for side in order[r % 2]:
                    bench, phase = sides[side]
                    ctx.log(f"  OTLP export {side:3} c={CONCURRENCY} body={BODY} B")
                    spec = LoadSpec(
                        urls=(bench.invoke_url,),
                        concurrency=CONCURRENCY,
                        body_size=BODY,
                        duration=None if requests else per_round,
                        requests=requests,
                        warmup=ctx.warmup,
                        credentials=bench.daemon.credentials,
                    )
                    phase.add(run_load(spec))
            on, off = sides["on"][1].summary(), sides["off"][1].summary()
        finally:
            if traced is not None:
                with contextlib.suppress(BaseException):
                    traced.cleanup()
            with contextlib.suppress(BaseException):
                cleanup(daemon)
        # the daemon flushed its queued spans when it stopped
        exported_requests, exported_bytes = receiver.requests, receiver.bytes
    r = ratio(on["rps"], off["rps"])
    out.results = {
        "concurrency": CONCURRENCY,
        "export_on_rps": on["rps"],
        "export_off_rps": off["rps"],
        "ratio": rnd(r, 3),
        "export_on_failed": on["failed"],
        "export_off_failed": off["failed"],
        "otlp_export_requests": exported_requests,
        "otlp_export_bytes": exported_bytes,
    }
    met = out.target("otlp_throughput_ratio_c16", f"≥ {OTLP_RATIO}× export off", r, OTLP_RATIO, at_most=False)
    out.rows.append(
        Row(
            "c=16 requests/s, OTLP export on",
            fmt(on["rps"], 0),
            fmt(off["rps"], 0),
            fmt(None if r is None else on["rps"] - off["rps"], 0),
            "—" if r is None else f"{r:.3f}×",
            f"≥ {OTLP_RATIO}×",
            met,
        )
    )
    out.rows.append(Row("OTLP export requests received (bytes)", f"{exported_requests} ({exported_bytes})"))
    return out
