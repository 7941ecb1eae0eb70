"""Tests of voiplab.core.flow: transactions, dialogs, calls (B2BUA legs merged), re-INVITE media changes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from synthetic_sip import CALL_ID_A, CALL_ID_B, Packet, all_packets, call_packets

from voiplab.capture.sipread import read_flow
from voiplab.core.flow import (
    B2BUA_WINDOW_S,
    VOIP_CALL_STATES,
    CallLeg,
    Flow,
    FlowMessage,
    correlate_legs,
    format_address,
    split_address,
)
from voiplab.core.sip import SipMessage


def to_messages(packets: list[Packet]) -> list[FlowMessage]:
    return [
        FlowMessage(
            SipMessage.parse(p.payload), p.time, format_address(*p.src), format_address(*p.dst), frame=number
        )
        for number, p in enumerate(packets, start=1)
    ]


@pytest.fixture(scope="module")
def flow() -> Flow:
    return Flow.from_messages(to_messages(all_packets()))


def test_addresses() -> None:
    """Are IPv4 and IPv6 addresses written and split as ip:port?"""
    assert format_address("127.0.0.80", 5060) == "127.0.0.80:5060"
    assert format_address("::1", 5060) == "[::1]:5060"
    assert split_address("[::1]:5060") == ("::1", 5060)


def test_transactions(flow: Flow) -> None:
    """Is every request grouped with its responses, the ACK of a 401 inside the INVITE transaction?"""
    assert len(flow.transactions) == 14
    first_invite = next(t for t in flow.transactions if t.request.cseq == "10452 INVITE")
    assert [m.label for m in first_invite.messages] == ["INVITE", "401 Unauthorized", "ACK"]
    assert first_invite.final_status == 401
    assert first_invite.branch == "z9hG4bKPj11aa22bb-33cc-44dd-55ee-66ff77889900"
    ack_2xx = [t for t in flow.transactions if t.method == "ACK"]
    assert len(ack_2xx) == 4  # the ACKs of 2xx have their own branch


def test_retransmission_is_marked(flow: Flow) -> None:
    """Is the PBX's second copy of the INVITE to the Alcatel marked as a retransmission?"""
    assert [m.frame for m in flow.retransmissions] == [11]
    transaction = flow.transaction_of(flow.messages[10])
    assert transaction.retransmissions == (flow.messages[10],)
    assert [m.label for m in transaction.messages] == [
        "INVITE",
        "INVITE",
        "100 Trying",
        "180 Ringing",
        "200 OK",
    ]


def test_dialogs(flow: Flow) -> None:
    """Is each dialog identified by Call-ID and the two tags, whoever sends the request?"""
    dialog_a = next(d for d in flow.dialogs if d.call_id == CALL_ID_A)
    assert dialog_a.id == (
        CALL_ID_A,
        "c4a1f3e2-7b6d-4c5e-9f8a-1b2c3d4e5f60",
        "8d1c2b3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d",
    )
    assert dialog_a.established
    # the PBX's re-INVITE (From/To swapped) and the BYE are in the same dialog
    labels = [m.label for m in dialog_a.messages]
    assert labels.count("INVITE") == 3 and "BYE" in labels
    assert flow.dialog_of(flow.messages[18]) == dialog_a


def test_call_merges_b2bua_legs(flow: Flow) -> None:
    """Are the leg rpi->PBX and the leg PBX->Alcatel one call, as Wireshark's VoIP Calls would show it?"""
    assert len(flow.calls) == 1
    call = flow.calls[0]
    assert call.call_ids == (CALL_ID_A, CALL_ID_B)
    assert call.initial_speaker == "127.0.0.82"
    assert call.from_ == '"Raspberry Pi" <sip:5002@127.0.0.80>'
    assert call.to == "sip:5001@127.0.0.80"
    assert call.state == "COMPLETED" and call.state in VOIP_CALL_STATES
    assert call.packets == 24
    assert call.start == flow.messages[4].time and call.stop == flow.messages[-1].time
    assert [leg.state for leg in call.legs] == ["COMPLETED", "COMPLETED"]
    assert "INVITE 401 (challenge)" in call.comments


def test_media_changes_of_direct_media(flow: Flow) -> None:
    """Do the PBX's re-INVITEs move each phone's RTP to the other phone's address?"""
    assert [(t.request.cseq, t.final_status) for t in flow.reinvites] == [
        ("31100 INVITE", 200),
        ("6121 INVITE", 200),
    ]
    changes = flow.calls[0].media_changes
    assert [(c.method, c.party, c.old, c.new) for c in changes] == [
        ("INVITE", "127.0.0.80:5060", "127.0.0.80:10018", "127.0.0.81:4002"),
        ("INVITE", "127.0.0.80:5060", "127.0.0.80:10016", "127.0.0.82:4000"),
    ]
    assert "re-INVITE by 127.0.0.80:5060: media 127.0.0.80:10018 -> 127.0.0.81:4002" in flow.calls[0].comments


def test_json(flow: Flow) -> None:
    """Does to_json give frame, time, src, dst, method or status, cseq and call_id per message,
    and the calls?"""
    data = json.loads(flow.to_json())
    first, second = data["messages"][:2]
    assert {"frame", "time", "src", "dst", "method", "status", "cseq", "call_id"} <= set(first)
    assert (first["frame"], first["src"], first["dst"], first["method"], first["cseq"]) == (
        1,
        "127.0.0.82:5060",
        "127.0.0.80:5060",
        "REGISTER",
        "28571 REGISTER",
    )
    assert second["status"] == 401 and second["method"] is None
    assert data["calls"][0]["state"] == "COMPLETED" and data["calls"][0]["packets"] == 24


def test_repr_and_html(flow: Flow) -> None:
    """Are the reprs one line and the HTML a table of messages and calls?"""
    assert repr(flow) == "<Flow 30 messages, 14 transactions, 4 dialogs, 1 calls>"
    for thing in (flow.messages[0], flow.transactions[0], flow.dialogs[0], flow.calls[0]):
        assert "\n" not in repr(thing)
    page = flow._repr_html_()
    assert page.count("<tr>") == 1 + 30 + 1 + 1
    assert "(retransmission)" in page


def _invite_scenario(final: list[tuple[str, str, bytes]]) -> list[FlowMessage]:
    """INVITE, 100 Trying, 180 Ringing, then the given messages, all on one Call-ID."""
    base = (
        "Via: SIP/2.0/UDP 127.0.0.82:5060;branch=z9hG4bK-inv\r\nFrom: <sip:5002@pbx>;tag=a\r\n"
        "To: <sip:5001@pbx>{to_tag}\r\nCall-ID: c1\r\nCSeq: {cseq}\r\n\r\n"
    )
    rpi, pbx = "127.0.0.82:5060", "127.0.0.80:5060"
    items = [
        (rpi, pbx, b"INVITE sip:5001@pbx SIP/2.0\r\n" + base.format(to_tag="", cseq="1 INVITE").encode()),
        (pbx, rpi, b"SIP/2.0 100 Trying\r\n" + base.format(to_tag="", cseq="1 INVITE").encode()),
        (pbx, rpi, b"SIP/2.0 180 Ringing\r\n" + base.format(to_tag=";tag=b", cseq="1 INVITE").encode()),
    ]
    for src, start, cseq in final:
        items.append(
            (
                rpi if src == "rpi" else pbx,
                pbx if src == "rpi" else rpi,
                start.encode() + b"\r\n" + base.format(to_tag=";tag=b", cseq=cseq.decode()).encode(),
            )
        )
    return [FlowMessage(SipMessage.parse(data), 10.0 + i, s, d) for i, (s, d, data) in enumerate(items)]


def test_states_cancelled_rejected_ringing() -> None:
    """Are CANCEL+487 CANCELLED, 486 REJECTED and an unanswered 180 RINGING?"""
    cancelled = Flow.from_messages(
        _invite_scenario(
            [
                ("rpi", "CANCEL sip:5001@pbx SIP/2.0", b"1 CANCEL"),
                ("pbx", "SIP/2.0 200 OK", b"1 CANCEL"),
                ("pbx", "SIP/2.0 487 Request Terminated", b"1 INVITE"),
                ("rpi", "ACK sip:5001@pbx SIP/2.0", b"1 ACK"),
            ]
        )
    )
    assert cancelled.calls[0].state == "CANCELLED"
    invite_transaction = next(t for t in cancelled.transactions if t.method == "INVITE")
    assert invite_transaction.messages[-1].method == "ACK"
    rejected = Flow.from_messages(_invite_scenario([("pbx", "SIP/2.0 486 Busy Here", b"1 INVITE")]))
    assert rejected.calls[0].state == "REJECTED"
    assert "INVITE 486 Busy Here" in rejected.calls[0].comments
    assert Flow.from_messages(_invite_scenario([])).calls[0].state == "RINGING"


def _second_call(shift: float) -> list[Packet]:
    """The same call from 5003 (127.0.0.83) to 5004 (127.0.0.84), with other Call-IDs."""
    swaps = [
        (b"127.0.0.81", b"127.0.0.84"),
        (b"127.0.0.82", b"127.0.0.83"),
        (b"5001", b"5004"),
        (b"5002", b"5003"),
        (CALL_ID_A.encode(), CALL_ID_A[::-1].encode()),
        (CALL_ID_B.encode(), CALL_ID_B[::-1].encode()),
    ]
    out = []
    for p in call_packets():
        payload = p.payload
        for old, new in swaps:
            payload = payload.replace(old, new)
        src = (
            "127.0.0.83"
            if p.src[0] == "127.0.0.82"
            else "127.0.0.84"
            if p.src[0] == "127.0.0.81"
            else p.src[0],
            p.src[1],
        )
        dst = (
            "127.0.0.83"
            if p.dst[0] == "127.0.0.82"
            else "127.0.0.84"
            if p.dst[0] == "127.0.0.81"
            else p.dst[0],
            p.dst[1],
        )
        out.append(Packet(p.time + shift, src, dst, payload))
    return out


def test_overlapping_calls_are_correlated_by_dialed_number() -> None:
    """With two calls set up at the same time, is each PBX leg matched to the caller who dialed its number?"""
    packets = sorted(call_packets() + _second_call(0.0005), key=lambda p: p.time)
    flow = Flow.from_messages(to_messages(packets))
    assert len(flow.calls) == 2
    by_caller = {call.initial_speaker: call for call in flow.calls}
    assert by_caller["127.0.0.82"].call_ids == (CALL_ID_A, CALL_ID_B)
    assert by_caller["127.0.0.83"].call_ids == (CALL_ID_A[::-1], CALL_ID_B[::-1])
    assert {leg.callee for leg in by_caller["127.0.0.83"].legs} == {"127.0.0.80:5060", "127.0.0.84:5060"}


def test_pbx_restriction() -> None:
    """Does naming another host as the PBX keep the legs apart?"""
    messages = to_messages(call_packets())
    assert len(Flow.from_messages(messages, pbx="127.0.0.80").calls) == 1
    assert len(Flow.from_messages(messages, pbx="192.0.2.1").calls) == 2


def test_filter_by_call() -> None:
    """Does filter() keep only one Call-ID's or one call's messages?"""
    flow = Flow.from_messages(to_messages(all_packets()))
    assert len(flow.filter(call_id=CALL_ID_B)) == 11
    assert len(flow.filter(call=flow.calls[0])) == 24


def test_tuples_are_accepted() -> None:
    """Can a flow be built from (time, src, dst, SipMessage) tuples?"""
    p = all_packets()[0]
    flow = Flow.from_messages([(p.time, "127.0.0.82:5060", "127.0.0.80:5060", SipMessage.parse(p.payload))])
    assert flow.messages[0].method == "REGISTER" and flow.messages[0].frame is None


@pytest.mark.parametrize(
    ("name", "caller"),
    [("call_rpi_to_alcatel.pcap", "127.0.0.82"), ("call_alcatel_to_rpi.pcap", "127.0.0.81")],
)
def test_real_call_legs_are_one_call(data_dir: Path, name: str, caller: str) -> None:
    """In a real capture of a lab call, are the two Asterisk legs correlated into one call?"""
    path = data_dir / name
    flow = read_flow(str(path))
    assert len(flow.calls) == 1
    call = flow.calls[0]
    assert len(call.legs) == 2 and len(set(call.call_ids)) == 2
    assert call.initial_speaker == caller
    assert {split_address(leg.caller)[0] for leg in call.legs} == {caller, "127.0.0.80"}
    assert call.state in ("COMPLETED", "IN CALL")


@pytest.mark.parametrize("name", ["call_rpi_to_alcatel.pcap", "call_alcatel_to_rpi.pcap"])
def test_real_call_ladder_png_has_one_arrow_per_message(data_dir: Path, name: str, tmp_path: Path) -> None:
    """Does the --png ladder of a real call have one arrow per SIP message?"""
    path = data_dir / name
    from voiplab.plots.ladder import arrows, ladder_figure

    flow = read_flow(str(path))
    figure = ladder_figure(flow)
    assert len(arrows(figure.axes[0])) == len(flow.messages)
    figure.savefig(tmp_path / "ladder.png")


# ---------------------------------------------------------------------------- leg correlation at scale


def _pairwise_correlation(legs: list[CallLeg], pbx: str | None = None) -> list[list[str]]:
    """The rule of correlate_legs, applied by comparing every pair of legs (the O(n^2) reference)."""
    ordered = sorted(legs, key=lambda leg: leg.start)
    parent: dict[int, int] = {}
    for i, a in enumerate(ordered):
        pbx_host = split_address(a.callee)[0]
        if pbx is not None and pbx_host != pbx:
            continue
        number = a.dialed or a.to_user
        candidates = [
            (j, b) for j, b in enumerate(ordered)
            if j != i and j not in parent and split_address(b.caller)[0] == pbx_host
            and split_address(b.callee)[0] != pbx_host
            and a.invite.time <= b.invite.time <= min(a.invite.time + B2BUA_WINDOW_S, a.stop)
        ]
        candidates.sort(key=lambda item: (item[1].invite.time, item[0]))
        chosen = next((j for j, b in candidates if number and number in (b.to_user, b.dialed)), None)
        if chosen is None:
            chosen = next((j for j, b in candidates if a.from_user and b.from_user == a.from_user), None)
        if chosen is None:
            chosen = next((j for j, b in candidates if a.from_display and b.from_display == a.from_display), None)
        if chosen is None and candidates:
            chosen = candidates[0][0]
        if chosen is not None:
            parent[chosen] = i
    groups: dict[int, list[str]] = {}
    for i, leg in enumerate(ordered):
        root = i
        while root in parent:
            root = parent[root]
        groups.setdefault(root, []).append(leg.call_id)
    return [groups[root] for root in sorted(groups)]


def _leg(number: int, caller: str, callee: str, start: float, stop: float, dialed: str, from_user: str,
         display: str) -> CallLeg:
    invite = SipMessage.request("INVITE", f"sip:{dialed}@{split_address(callee)[0]}", [
        ("Via", f"SIP/2.0/UDP {caller};branch=z9hG4bK{number}"), ("From", f'"{display}" <sip:{from_user}@pbx>;tag=f'),
        ("To", f"<sip:{dialed}@pbx>"), ("Call-ID", f"leg-{number}"), ("CSeq", "1 INVITE")])
    bye = SipMessage.request("BYE", f"sip:{dialed}@pbx", [("Call-ID", f"leg-{number}"), ("CSeq", "2 BYE")])
    messages = (FlowMessage(invite, start, caller, callee), FlowMessage(bye, stop, caller, callee))
    return CallLeg(f"leg-{number}", messages, "COMPLETED", ())


def test_indexed_leg_correlation_equals_the_pairwise_rule() -> None:
    """On 600 random legs (phones calling a PBX, the PBX calling phones, overlapping in time, numbers,
    users and display names that match or not), does correlate_legs group exactly as comparing every
    pair of legs does?"""
    rng = random.Random(4)
    hosts = ["10.0.0.80:5060", "10.0.0.81:5060", "10.0.0.82:5060", "10.0.0.83:5060", "10.0.0.90:5060"]
    legs = []
    for number in range(600):
        pbx = rng.random() < 0.5
        caller = rng.choice(hosts[:1] if pbx else hosts[1:])
        callee = rng.choice(hosts[1:] if pbx else hosts[:1] + hosts[1:2])
        start = rng.uniform(0, 120)
        legs.append(_leg(number, caller, callee, start, start + rng.uniform(0.1, 20), rng.choice(["5001", "5002",
                         "5003", "alcatel"]), rng.choice(["5001", "5002", "5003"]), rng.choice(["A", "B", "C"])))
    ours = [[leg.call_id for leg in group] for group in correlate_legs(legs)]
    assert ours == _pairwise_correlation(legs)
    assert sum(len(group) > 1 for group in ours) > 50  # the rule did match many legs
    ours_pbx = [[leg.call_id for leg in group] for group in correlate_legs(legs, pbx="10.0.0.80")]
    assert ours_pbx == _pairwise_correlation(legs, pbx="10.0.0.80")
