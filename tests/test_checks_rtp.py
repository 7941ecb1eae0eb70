"""The check cells of notebook 05: each passes on the student's right result and, on a wrong one, says what to look at.

The right results are computed here the way the notebook's key computes them (numpy, from
the stream's arrival times, timestamps and sequence numbers); the wrong ones are the
mistakes students make (seconds for ms, timestamps not turned into time, no smoothing,
14 bytes for Ethernet, the number before each gap...). The exact messages are asserted.
"""

from __future__ import annotations

import numpy as np
import pytest

import voiplab as vl
from voiplab.capture import synth
from voiplab.capture.streams import streams
from voiplab.capture.tshark import tshark_rtp_streams
from voiplab.errors import VoipLabError
from voiplab.teach import checks
from voiplab.teach.checks.rtp import lost_packets, rtp_bit_rate, rtp_jitter
from voiplab.teach.media import simulate_loss


@pytest.fixture(scope="module")
def sample():
    return vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())


@pytest.fixture(scope="module")
def heard(sample):
    """Alcatel -> rpi: 124 packets, no DTMF (SSRC 0x599219EA)."""
    return sample.stream("alcatel", "rpi")


def student_jitter(stream, *, clock: float = 8000.0, smooth: bool = True, absolute: bool = True,
                   scale: float = 1.0) -> np.ndarray:
    """The jitter as the notebook's key computes it (one value per packet), with a mistake if asked."""
    arrival_ms = stream.time_ns / 1e6
    rtp_ms = stream.timestamp / clock * 1000
    d = np.diff(arrival_ms) - np.diff(rtp_ms)
    d = np.abs(d) if absolute else d
    if not smooth:
        return np.concatenate([[0.0], d]) * scale
    jitter = np.zeros(len(stream))
    for i in range(1, len(stream)):
        jitter[i] = jitter[i - 1] + (d[i - 1] - jitter[i - 1]) / 16
    return jitter * scale


def student_lost(stream) -> np.ndarray:
    """The lost sequence numbers as the notebook's key lists them."""
    seq = stream.sequence_number.astype(int)
    gaps = np.flatnonzero(np.diff(seq) > 1)
    return np.concatenate([np.arange(seq[i] + 1, seq[i + 1]) for i in gaps] or [np.array([], dtype=int)])


def test_the_checks_are_reachable_as_vl_checks():
    """Does vl.checks.<name> find each check of this chapter?"""
    assert vl.checks.rtp_jitter is rtp_jitter
    assert checks.lost_packets is lost_packets and checks.rtp_bit_rate is rtp_bit_rate


# ---------------------------------------------------------------------------- bit rates
def test_bit_rate_right(heard):
    """Do 80 and 87.2 kbit/s pass, with the packet size and rate seen?"""
    result = rtp_bit_rate(80, 87.2, heard)
    assert result.ok
    assert result.message == ("160 bytes of audio every 20 ms (50 packets/s): 80 kbit/s at the IP level and "
                              "87.2 kbit/s in Ethernet frames are right (on the wire, with preamble and gap: "
                              "95.2 kbit/s)")
    assert rtp_bit_rate(80.0, 87.19, heard).ok  # rounding of the student's arithmetic


@pytest.mark.parametrize(("ip", "ethernet", "message"), [
    (..., ..., "ip_kbps and ethernet_kbps are not computed yet: fill in the cell above (bytes per packet x 8 bits x "
               "packets per second / 1000), then run this check again"),
    ("80", 87.2, "ip_kbps and ethernet_kbps must be numbers (kbit/s), for example 12.5"),
    (64, 87.2, "ip_kbps: that is the codec's rate, the payload alone: every packet also carries an RTP header "
               "(12 bytes), a UDP header (8) and an IPv4 header (20)"),
    (68.8, 87.2, "ip_kbps: some headers are missing: count RTP (12 bytes), UDP (8) and IPv4 (20) in every packet"),
    (10, 87.2, "ip_kbps: that is in kilobytes per second: a bit rate counts bits (x 8)"),
    (80000, 87.2, "ip_kbps: that is in bit/s: give it in kbit/s (divide by 1000)"),
    (78.125, 87.2, "ip_kbps: in telecommunications 1 kbit/s is 1000 bit/s, not 1024"),
    (160, 87.2, "ip_kbps: that counts both directions: give the rate of one direction (one stream)"),
    (81.6, 87.2, "ip_kbps: not the rate of this stream: count the bytes of one packet (160 of audio + the RTP, UDP "
                 "and IPv4 headers), x 8 bits, x the packets per second (from the RTP timestamp step and the 8000 Hz "
                 "clock)"),
    (80, 85.6, "ethernet_kbps: Ethernet adds 18 bytes to every packet, not 14: the 14-byte header (two MAC addresses "
               "and the EtherType) and the 4-byte frame check sequence (FCS) at the end of the frame"),
    (80, 95.2, "ethernet_kbps: that counts the preamble (8 bytes) and the inter-frame gap (12 bytes) too: they take "
               "line time but are not part of the frame; count the frame only (header and FCS)"),
    (80, 80, "ethernet_kbps: that is the IP rate: every IP packet travels in an Ethernet frame that adds a header "
             "and an FCS"),
    (80, 10.9, "ethernet_kbps: that is in kilobytes per second: a bit rate counts bits (x 8)"),
    (80, 90, "ethernet_kbps: not the rate of the frames: add the Ethernet header and FCS (18 bytes) to each IP "
             "packet, then x 8 bits x packets per second"),
])
def test_bit_rate_wrong(heard, ip, ethernet, message):
    """Is each usual mistake named, without giving the answer?"""
    result = rtp_bit_rate(ip, ethernet, heard)
    assert not result.ok
    assert result.message == message
    assert repr(result).startswith("NOT YET your bit rates: ")


# ---------------------------------------------------------------------------- jitter
def test_jitter_right(heard):
    """Does the key's numpy jitter pass, per packet, without the first, or as the last value alone?"""
    mine = student_jitter(heard)
    for answer in (mine, mine[1:], mine[-1], list(mine)):
        result = rtp_jitter(answer, heard)
        assert result.ok, result.message
    expected = heard.analysis.jitter_ms
    assert result.message == (f"your jitter equals Wireshark's for the 124 packets of SSRC 0x599219EA: last value "
                              f"{expected[-1]:.3f} ms, largest {expected.max():.3f} ms")


@pytest.mark.parametrize(("mistake", "message"), [
    (dict(scale=1 / 1000), "your values look like seconds: give the jitter in milliseconds (arrival times in ms, and "
                           "the RTP timestamps turned into ms as well)"),
    (dict(clock=1000.0), "did you turn the RTP timestamps into time? S_i is the timestamp divided by the 8000 Hz "
                         "clock (x 1000 for ms)"),
    (dict(absolute=False), "the jitter smooths the absolute value |D|: J += (|D| - J) / 16"),
    (dict(smooth=False), "these are the transit differences |D| themselves: the jitter smooths them, "
                         "J += (|D| - J) / 16, starting from J = 0"),
])
def test_jitter_wrong(heard, mistake, message):
    """Is each usual mistake of the jitter named?"""
    result = rtp_jitter(student_jitter(heard, **mistake), heard)
    assert not result.ok
    assert result.message == message


def test_jitter_of_a_stream_with_dtmf(sample):
    """On the stream that carries DTMF, is the student told that Wireshark leaves telephone-events out?"""
    sent = sample.stream("rpi", "alcatel")
    result = rtp_jitter(student_jitter(sent), sent)
    assert not result.ok
    assert result.message == ("this stream carries DTMF (telephone-event packets, payload type 101): Wireshark leaves "
                              "them out of the jitter; compute the jitter of a stream without DTMF (the one your "
                              "phone received)")


@pytest.mark.parametrize(("answer", "message"), [
    (None, "the jitter is not computed yet: fill in the cell above (one value J per packet, from the arrival times "
           "and the RTP timestamps), then run this check again"),
    (..., "the jitter is not computed yet: fill in the cell above (one value J per packet, from the arrival times "
          "and the RTP timestamps), then run this check again"),
    ("fast", "your jitter must be numbers: a numpy array of jitter values in ms, one per packet"),
    ([0.1, 0.2], "you have 2 jitter values for a stream of 124 packets: compute one value per packet (J = 0 for "
                 "the first packet)"),
    ([np.nan] * 124, "your jitter holds NaN or infinite values: look for a division by zero or an empty array in "
                     "your computation"),
    ([1.5] * 124, "your last value is 1.500 ms, not Wireshark's figure for this stream: check that D = (R_i - R_i-1) "
                  "- (S_i - S_i-1) uses the arrival times R and the RTP times S both in ms, and that J starts at 0 "
                  "and moves by (|D| - J) / 16 at each packet"),
])
def test_jitter_not_done_or_malformed(heard, answer, message):
    """Are a missing, malformed or unexplained answer met with what to do?"""
    result = rtp_jitter(answer, heard)
    assert not result.ok and result.message == message


@pytest.mark.tshark
def test_the_keys_jitter_gives_tsharks_max_jitter(tmp_path, tshark):
    """On jittery streams, is the largest jitter of the key's numpy computation tshark's 'Max Jitter'?"""
    path = tmp_path / "jitter.pcap"
    synth.write_capture(str(path), synth.synth(1200, jitter_ms=3.0, seed=8))
    rows = {(r["src"], r["src_port"], r["ssrc"]): r for r in tshark_rtp_streams(path, tshark=tshark)}
    for stream in streams(path):
        mine = student_jitter(stream)
        assert rtp_jitter(mine, stream).ok
        assert f"{mine[1:].max():.3f}" == f"{rows[(stream.src, stream.src_port, stream.ssrc)]['max_jitter_ms']:.3f}"


# ---------------------------------------------------------------------------- lost packets
@pytest.fixture(scope="module")
def lossy(heard):
    """The Alcatel's stream with 10 packets removed in runs of 2."""
    return simulate_loss(heard, 8, seed=2, burst=2)


def test_lost_packets_right(lossy, heard):
    """Does the key's list pass, with Wireshark's count shown; and an empty list for a stream without loss?"""
    result = lost_packets(student_lost(lossy), lossy)
    assert result.ok
    assert result.message == ("the 10 numbers you listed are exactly the missing ones: expected 124 - received 114 "
                              "= 10 lost (Wireshark's 'Lost' column)")
    assert lost_packets(list(student_lost(lossy)), lossy).ok
    assert lost_packets([], heard).ok


@pytest.mark.parametrize(("answer", "message"), [
    (..., "the lost sequence numbers are not listed yet: fill in the cell above (the numbers missing between "
          "consecutive received packets), then run this check again"),
    ("some", "list the lost sequence numbers as whole numbers, e.g. [1203, 1204, 1290]"),
    ([], "your list is empty, but the sequence numbers of this stream have gaps: look at np.diff(seq) > 1"),
    ("before", "you listed the last number received before each gap: the missing ones start at seq[i] + 1 (np.diff "
               "finds the gap after seq[i])"),
    ("one per gap", "you found 5 of the 10 missing numbers: a gap can hide several packets in a row; list every "
                    "number between seq[i] and seq[i + 1] (np.arange(seq[i] + 1, seq[i + 1]))"),
    ("received", "1 of your numbers were received (for example 5): list only the numbers that never arrived"),
    ("outside", "some of your numbers are outside the stream (before its first packet or after its last): list only "
                "the numbers missing between received packets"),
])
def test_lost_packets_wrong(lossy, answer, message):
    """Is each usual mistake of the loss list named?"""
    seq = lossy.sequence_number.astype(int)
    gaps = np.flatnonzero(np.diff(seq) > 1)
    right = student_lost(lossy).tolist()
    answers = {"before": seq[gaps], "one per gap": seq[gaps] + 1, "received": [*right, int(seq[4])],
               "outside": [*right, int(seq[-1]) + 5]}
    result = lost_packets(answers.get(answer, answer) if isinstance(answer, str) else answer, lossy)
    assert not result.ok and result.message == message


def test_lost_packets_of_a_stream_without_loss(heard):
    """Is a list on a stream that lost nothing met with 'this stream lost no packet'?"""
    result = lost_packets([5], heard)
    assert not result.ok
    assert result.message == ("this stream lost no packet: every sequence number from the first to the last was "
                              "received")


def test_a_check_given_no_stream_is_a_misuse():
    """Is a check given something else than a stream an error (not a red result), saying what to pass?"""
    with pytest.raises(VoipLabError) as e:
        rtp_jitter([0.0], "heard")
    assert str(e.value) == ("the stream to check is a str, not an RTP stream: pass one of exp.streams "
                            "(e.g. exp.stream('alcatel', 'rpi'))")
