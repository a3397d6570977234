"""The pacing of the daemon's rolling passes (sweep and scrub): every file once per window, never faster
than the rate, from where the last slice stopped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bifrostd.daemon.passes import BURST, Passes, slice_files


def run(passes: Passes, root: str, files: int, times: list[float]) -> list[tuple[float, int]]:
    """Drive one root's pass over ``files`` one-byte files at the given loop times; (time, units taken) each."""
    taken: list[tuple[float, int]] = []
    cursor = 0
    for now in times:
        for due in passes.due_starts(now):
            passes.begin(due, files, now, now)
        allowance = passes.allowance(root, now)
        if not allowance or root not in passes.running:
            continue
        take = min(allowance, files - cursor)
        cursor += take
        taken.append((now, take))
        if passes.spent(root, units=take, files=take, changed=0, cursor=str(cursor), exhausted=cursor >= files,
                        now=now, wall=now):
            cursor = 0
    return taken


def test_a_small_root_is_swept_once_per_window_spread_over_it():
    passes = Passes("sweep", "files", every=100.0, rate=500.0)
    passes.cover({"projects"}, 0.0)
    taken = run(passes, "projects", 1000, [t * 0.25 for t in range(0, 1000)])  # 250 s of loop steps
    first_pass = [t for t, _ in taken if t < 100]
    assert sum(n for t, n in taken if t < 100) == 1000  # every file within the window ...
    assert max(first_pass) > 90  # ... spread over it, not in one burst at the start
    assert passes.last["projects"].files == 1000
    assert 100 <= min(t for t, _ in taken if t >= 100) < 102  # the next pass begins a window after the first


def test_a_big_root_is_held_to_the_rate_and_takes_longer_than_the_window():
    passes = Passes("sweep", "files", every=10.0, rate=50.0)
    passes.cover({"projects"}, 0.0)
    taken = run(passes, "projects", 5000, [t * 0.5 for t in range(0, 240)])  # 120 s
    assert sum(n for _, n in taken) <= 50 * 120 + 50 * BURST
    assert "projects" in passes.running and passes.to_json(120.0)["roots"]["projects"]["running"]["eta_s"] > 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.01, max_value=5.0), min_size=1, max_size=200),
       st.integers(min_value=1, max_value=100_000), st.floats(min_value=1.0, max_value=1000.0))
def test_no_loop_timing_lets_a_pass_exceed_its_rate(gaps, files, rate):
    passes = Passes("sweep", "files", every=1.0, rate=rate)
    passes.cover({"r"}, 0.0)
    times, now = [], 0.0
    for gap in gaps:
        now += gap
        times.append(now)
    taken = run(passes, "r", files, times)
    for end in times:
        assert sum(n for t, n in taken if t <= end) <= rate * end + rate * BURST + 1


def test_the_scrub_counts_bytes_and_a_big_file_makes_the_next_slices_wait():
    passes = Passes("scrub", "bytes", every=10.0, rate=1000.0)
    passes.cover({"r"}, 0.0)
    passes.begin("r", 10**6, 0.0, 0.0)
    assert passes.allowance("r", 0.0) == 0  # no credit yet
    allowance = passes.allowance("r", 1.0)
    assert allowance == 1000
    rows = [("a", 400), ("b", 500), ("c", 300)]
    assert slice_files(rows, allowance, unit="bytes") == [("a", 400), ("b", 500)]
    assert slice_files([("huge", 50_000)], allowance, unit="bytes") == [("huge", 50_000)]  # one file at least
    passes.spent("r", units=50_000, files=1, changed=0, cursor="huge", exhausted=False, now=1.0, wall=1.0)
    assert passes.allowance("r", 40.0) == 0  # 49 s of debt at 1000 B/s
    assert passes.next_wake(40.0) >= 50.0
    assert passes.allowance("r", 52.0) > 0


def test_roots_no_longer_covered_are_forgotten_and_new_ones_start_at_once():
    passes = Passes("sweep", "files", every=60.0, rate=100.0)
    passes.cover({"a", "b"}, 0.0)
    passes.begin("a", 10, 0.0, 0.0)
    passes.cover({"b", "c"}, 5.0)
    assert "a" not in passes.running and passes.due_starts(5.0) == ["b", "c"]
