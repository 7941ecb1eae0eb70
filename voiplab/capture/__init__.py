"""Files and packets: the capture layer (above ``core``, below ``devices``).

* :mod:`~voiplab.capture.pcap`: the one pcap/pcapng reader, its public door: the formats, link
  layers, tunnels and frames one by one in :mod:`~voiplab.capture.pcapfile` (pure Python), UDP as
  numpy columns in :mod:`~voiplab.capture.udp`.
* :mod:`~voiplab.capture.sipread`: the SIP messages of a capture (``read_sip``, ``read_flow``).
* :mod:`~voiplab.capture.streams`: its RTP streams, found and measured as tshark does.
* :mod:`~voiplab.capture.live`: live capture; :mod:`~voiplab.capture.layers` and
  :mod:`~voiplab.capture.craft`: scapy; :mod:`~voiplab.capture.tshark`: the oracle;
  :mod:`~voiplab.capture.wav`: WAV files; :mod:`~voiplab.capture.synth`: synthetic captures.

Nothing is imported here: ``voiplab flow`` and ``voiplab analyze`` load only what they use.
"""
