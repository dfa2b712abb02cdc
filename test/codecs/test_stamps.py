"""codecs/stamps: the one home of ROS stamp <-> integer nanoseconds, round trips and the log format."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mamba_tracking_ros.codecs.stamps import ns_to_time_fields, stamp_to_ns, stamp_to_seconds, stamp_to_text


@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000, 1_733_500_000_123_456_789])
def test_nanoseconds_round_trip_through_the_time_fields(ns: int) -> None:
    """ns -> sec / nanosec -> ns is exact (no float on the way), nanosec stays below one second."""
    fields = ns_to_time_fields(ns)
    assert 0 <= fields["nanosec"] < 1_000_000_000
    assert stamp_to_ns(SimpleNamespace(**fields)) == ns
    assert stamp_to_seconds(SimpleNamespace(**fields)) == pytest.approx(
        ns * 1e-9, abs=1e-6
    )  # float64: ~0.2 us at 1.7e9 s


def test_stamp_text_keeps_every_nanosecond_digit() -> None:
    """Log text: leading zeros of the nanoseconds are kept (12.5 ns after 12 s is not 12.5 s)."""
    assert stamp_to_text(SimpleNamespace(sec=12, nanosec=500)) == "12.000000500"
    assert stamp_to_text(SimpleNamespace(sec=0, nanosec=999_999_999)) == "0.999999999"
