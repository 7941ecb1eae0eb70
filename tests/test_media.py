"""voiplab.teach.media: the views over a call's RTP streams of notebooks 05 and 09.

Checked on the committed sample captures of the lab and on synthetic captures whose
losses tshark counts too (tshark is the oracle for "Lost").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import voiplab as vl
from voiplab.capture import synth
from voiplab.capture.streams import streams
from voiplab.capture.tshark import tshark_rtp_streams
from voiplab.errors import VoipLabError
from voiplab.teach import media


@pytest.fixture(scope="module")
def sample():
    """The sample call rpi -> Alcatel (with DTMF), in the default lab's addresses."""
    return vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())


@pytest.fixture(scope="module")
def heard(sample):
    """What rpi received from the Alcatel: 124 packets of G.711 mu-law, no DTMF."""
    return sample.stream("alcatel", "rpi")


def test_stream_path_via_the_pbx_or_direct(sample):
    """Is a stream to or from the PBX 'via the PBX', and one between the phones 'direct'?"""
    paths = {(s.src, s.dst): media.stream_path(s, "127.0.0.80") for s in sample.stream_stats}
    assert paths == {("127.0.0.82", "127.0.0.80"): media.VIA_PBX, ("127.0.0.81", "127.0.0.82"): media.DIRECT,
                     ("127.0.0.82", "127.0.0.81"): media.DIRECT}
    table = sample.streams_table()
    assert [table.path(s) for s in sample.stream_stats] == [paths[(s.src, s.dst)] for s in sample.stream_stats]
    assert "direct (phone to phone)" in table._repr_html_() and "via the PBX" in repr(table)


def test_bit_rates_of_20_ms_g711(heard):
    """Is one direction of 20 ms G.711 64 kbit/s of audio, 80 with IP, 87.2 in Ethernet frames, 95.2 on the wire?"""
    rates = media.bit_rates(heard)
    assert (rates.payload_bytes, rates.ptime_ms, rates.packets_per_second) == (160, 20.0, 50.0)
    assert (rates.codec_kbps, rates.ip_kbps, rates.ethernet_kbps, rates.wire_kbps) == (64.0, 80.0, 87.2, 95.2)
    assert "header 14 + FCS 4" in rates._repr_html_() and "Ethernet 87.2" in repr(rates)


def test_bit_rates_leave_dtmf_packets_out(sample):
    """Does a stream carrying telephone-events (4-byte payloads) still give the audio's 160 bytes per packet?"""
    sent = sample.stream("rpi", "alcatel")
    assert np.isin(sent.payload_type, [101]).any()
    assert media.bit_rates(sent).payload_bytes == 160


def test_bit_rates_of_a_too_short_stream(heard):
    """Is a stream of one packet refused with what to do?"""
    first = slice(0, 1)
    one = replace(heard, frame=heard.frame[first], time_ns=heard.time_ns[first],
                  sequence_number=heard.sequence_number[first], timestamp=heard.timestamp[first],
                  payload_type=heard.payload_type[first], marker=heard.marker[first],
                  payload_offset=heard.payload_offset[first], payload_length=heard.payload_length[first])
    with pytest.raises(VoipLabError, match="has too few audio packets for a bit rate: pick a stream of a whole call"):
        media.bit_rates(one)


def test_simulate_loss_removes_packets_reproducibly(heard):
    """Does the same seed remove the same packets, never the first nor the last, and the others remain intact?"""
    a = media.simulate_loss(heard, 5, seed=3)
    b = media.simulate_loss(heard, 5, seed=3)
    c = media.simulate_loss(heard, 5, seed=4)
    assert np.array_equal(a.sequence_number, b.sequence_number)
    assert not np.array_equal(a.sequence_number, c.sequence_number)
    assert len(heard) - len(a) == round(len(heard) * 0.05)
    assert a.sequence_number[0] == heard.sequence_number[0] and a.sequence_number[-1] == heard.sequence_number[-1]
    kept = np.isin(heard.sequence_number, a.sequence_number)
    assert np.array_equal(a.timestamp, heard.timestamp[kept])
    assert a.payload(5) == heard.payload(int(np.flatnonzero(kept)[5]))
    assert a.stats.lost == len(heard) - len(a)


def test_simulate_loss_in_bursts(heard):
    """Does burst=3 remove runs of three consecutive packets?"""
    lossy = media.simulate_loss(heard, 6, seed=1, burst=3)
    gaps = np.diff(lossy.sequence_number.astype(int))
    assert set(gaps[gaps > 1].tolist()) <= {4, 7, 10}  # one run: 3 missing, two adjacent runs: 6...
    assert lossy.stats.lost % 3 == 0


@pytest.mark.parametrize(("percent", "burst", "message"), [
    (60, 1, "a loss of 60 % is not simulated here: use a percentage between 0 and 50"),
    (-1, 1, "a loss of -1 % is not simulated here: use a percentage between 0 and 50"),
    (5, 0, "a burst of 0 packets is not possible: use 1 or more"),
])
def test_simulate_loss_refuses_what_it_cannot_do(heard, percent, burst, message):
    """Are impossible losses refused with what to use?"""
    with pytest.raises(VoipLabError) as e:
        media.simulate_loss(heard, percent, burst=burst)
    assert str(e.value) == message


def test_lost_sequence_numbers(heard):
    """Are the listed numbers exactly those removed, and as many as Wireshark's 'Lost'?"""
    lossy = media.simulate_loss(heard, 8, seed=7, burst=2)
    removed = sorted(set(heard.sequence_number.tolist()) - set(lossy.sequence_number.tolist()))
    assert media.lost_sequence_numbers(lossy) == removed
    assert len(removed) == lossy.stats.lost
    assert media.lost_sequence_numbers(heard) == []


def test_lost_sequence_numbers_across_the_wrap(tmp_path):
    """Are lost numbers found across 65535 -> 0, and counted as tshark counts them?"""
    path = tmp_path / "wrap.pcap"
    synth.write_capture(str(path), synth.synth(2000, streams=2, wrap=True, loss=0.03, seed=11))
    found = streams(path)
    for stream in found:
        seq = stream.sequence_number.astype(int)
        assert (np.diff(seq) < 0).any(), "the stream should wrap"
        lost = media.lost_sequence_numbers(stream)
        assert all(0 <= s < 65536 for s in lost)
        assert not set(lost) & set(seq.tolist())
        assert len(lost) == stream.stats.lost


@pytest.mark.tshark
def test_lost_count_is_tsharks(tmp_path, tshark):
    """Is the number of lost sequence numbers tshark's 'Lost' for every stream of a lossy capture?"""
    path = tmp_path / "lossy.pcap"
    synth.write_capture(str(path), synth.synth(3000, loss=0.04, seed=5))
    ours = {(s.src, s.src_port, s.ssrc): len(media.lost_sequence_numbers(s)) for s in streams(path)}
    theirs = {(r["src"], r["src_port"], r["ssrc"]): r["lost"] for r in tshark_rtp_streams(path, tshark=tshark)}
    assert ours == theirs and sum(ours.values()) > 0


def test_role_address(sample):
    """Is a role found by name or with its number, an address kept, and an unknown role refused?"""
    assert media.role_address(sample.roles, "rpi") == "127.0.0.82"
    assert media.role_address(sample.roles, "alcatel (5001)") == "127.0.0.81"
    assert media.role_address(sample.roles, "10.1.2.3") == "10.1.2.3"
    with pytest.raises(VoipLabError) as e:
        media.role_address(sample.roles, "bob")
    assert str(e.value) == "no address has the role 'bob' in this call: use one of pbx, alcatel, rpi, guillaume"


def test_both_sides_is_call_audio_by_role(sample):
    """Is both_sides(exp) vl.call_audio with the two phones' addresses: left what rpi sent, right the Alcatel?"""
    stereo = media.both_sides(sample)
    assert np.array_equal(stereo, vl.call_audio(sample.streams, "127.0.0.82", "127.0.0.81"))
    left, right = stereo[:, 0].astype(float), stereo[:, 1].astype(float)
    assert abs(vl.dominant_frequency(left[left != 0], 8000) - 440) < 10
    assert vl.detect_alcatel_signal(stereo[:, 1], 8000)
    assert np.count_nonzero(right[:8000]) == 0  # the Alcatel rings 2 s: nothing from it at first


def test_both_sides_without_streams(sample):
    """Is a call without RTP refused with what to do?"""
    empty = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig())
    with pytest.raises(VoipLabError, match="this call has no RTP streams to play: record it with capture"):
        media.both_sides(empty)


def test_quality_table_is_an_estimate(sample):
    """Is every voice stream rated (the DTMF one by its voice codec) and labelled an estimate?"""
    table = media.quality_table(sample)
    assert len(table.rows) == 3
    assert all(q.codec == "g711U" and 4.0 < q.mos < 4.5 for _s, q in table.rows)
    assert "estimate" in table._repr_html_() and "not a measurement" in table._repr_html_()


def test_dtmf_digits(sample):
    """Are the keys rpi pressed (1 2 3 4 #) found in its stream, and none in the Alcatel's?"""
    assert "".join(d.name for d in media.dtmf_digits(sample.stream("rpi", "alcatel"))) == "1234#"
    assert media.dtmf_digits(sample.stream("alcatel", "rpi")) == []
