"""bench/renderer.py: a renderer main thread's tasks, each in one bucket by what it ran first."""
from __future__ import annotations

import json

from bench.renderer import summarise


def _mojo(ts: int, dur: int, tag: str, size: int = 5_000) -> dict:
    info = {"mojo_interface_tag": tag, "data_num_bytes": size}
    return {"ph": "X", "pid": 1, "tid": 2, "ts": ts, "dur": dur, "name": "Receive mojo message",
            "args": {"chrome_mojo_event_info": info}}


def test_each_top_level_task_counts_once_in_the_bucket_of_its_first_event(tmp_path):
    task = {"ph": "X", "pid": 1, "tid": 2, "name": "ThreadControllerImpl::RunTask"}
    events = [
        {"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "CrRendererMain"}},
        {"ph": "M", "pid": 1, "tid": 3, "name": "thread_name", "args": {"name": "Compositor"}},
        # the injected script: a task of 40 (thread time 30) around a big DevTools message
        {**task, "ts": 0, "dur": 40, "tdur": 30}, _mojo(1, 38, "blink.mojom.DevToolsSession", 345_000),
        {"ph": "X", "pid": 1, "tid": 2, "ts": 2, "dur": 30, "name": "EvaluateScript"},  # nested: not again
        # a locator query: a small DevTools message
        {**task, "ts": 100, "dur": 10, "tdur": 10}, _mojo(101, 8, "blink.mojom.DevToolsSession"),
        # a page's parsing, then a frame, each a top-level task of its own
        {"ph": "X", "pid": 1, "tid": 2, "ts": 200, "dur": 40, "name": "HTMLDocumentParser::PumpTokenizer"},
        {**task, "ts": 300, "dur": 20, "tdur": 20},
        {"ph": "X", "pid": 1, "tid": 2, "ts": 301, "dur": 18, "name": "ProxyMain::BeginMainFrame"},
        {**task, "ts": 400, "dur": 20, "tdur": 20},  # says nothing of itself
        {"ph": "X", "pid": 1, "tid": 3, "ts": 0, "dur": 500, "name": "Paint"},  # another thread: left out
    ]
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps({"traceEvents": events}))
    summary = summarise(trace)
    assert summary["main_thread_ms"] == 0  # 120 microseconds
    assert summary["injected_script_sent"] == 1
    assert summary["share_pct"] == {"documents": 33.3, "injected script": 25.0, "frames": 16.7,
                                    "other": 16.7, "other DevTools commands": 8.3}
