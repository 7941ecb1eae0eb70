// The browser phone of voiplab's notebook 08 (WebRTC): JsSIP over a secure WebSocket.
//
// The page asks the voiplab page server for its account (accounts/<name>.json: SIP URI,
// password, wss:// address of Asterisk), registers, and then lets the student dial,
// answer, hang up and send SIP MESSAGEs. Everything a test or a notebook needs is on
// window.voiplab (driven by voiplab.webrtc.BrowserPhone through Playwright).
//
// Bundled with esbuild into build/phone.js (`npm run build`); JsSIP comes from npm.

import * as JsSIP from 'jssip';

const $ = (id) => document.getElementById(id);

// Only the browser's loopback ICE candidates are kept in its SDP: Asterisk never
// advertises 127.0.0.0/8 candidates, so it answers the browser's checks from its own
// address, which the browser learns as a peer-reflexive candidate. On a real LAN
// (keepLoopbackOnly: false) every candidate is kept.
function filterCandidates(sdp, keepLoopbackOnly) {
  if (!keepLoopbackOnly) return sdp;
  return sdp
    .split('\r\n')
    .filter((line) => {
      if (!line.startsWith('a=candidate:')) return true;
      const address = line.split(' ')[4] || '';
      return address.startsWith('127.');
    })
    .join('\r\n');
}

const state = {
  account: null,
  ua: null,
  session: null,
  incoming: null,
  registered: false,
  registerMs: null,
  status: 'loading',
  callState: 'idle',
  callTimes: {},
  messages: [],
  trace: [],
  errors: [],
};

function now() {
  return Date.now() / 1000;
}

function setStatus(text) {
  state.status = text;
  $('status').textContent = text;
}

function setCallState(text) {
  state.callState = text;
  state.callTimes[text] = performance.now();
  $('call-state').textContent = text;
  const inCall = ['calling', 'ringing', 'progress', 'confirmed', 'incoming'].includes(text);
  $('hangup').disabled = !inCall;
  $('answer').disabled = text !== 'incoming';
  $('call').disabled = inCall || !state.registered;
}

function showMessage(direction, peer, text) {
  state.messages.push({ direction, peer, text, time: now() });
  const li = document.createElement('li');
  li.className = direction;
  li.textContent = `${direction === 'in' ? '\u2190' : '\u2192'} ${peer}: ${text}`;
  $('messages').appendChild(li);
}

// Record every SIP message that crosses the WebSocket (RFC 7118: one SIP message per
// WebSocket text frame), for the notebook's ladder next to the UDP leg.
function tracedSocket(url) {
  const socket = new JsSIP.WebSocketInterface(url);
  const send = socket.send.bind(socket);
  socket.send = (message) => {
    state.trace.push({ direction: 'tx', time: now(), raw: String(message) });
    return send(message);
  };
  let handler = null;
  const wrapped = (data) => {
    state.trace.push({ direction: 'rx', time: now(), raw: String(data) });
    if (handler) handler(data);
  };
  Object.defineProperty(socket, 'ondata', {
    configurable: true,
    get: () => (handler ? wrapped : null),
    set: (fn) => {
      handler = fn;
    },
  });
  return socket;
}

function mediaOptions() {
  return {
    mediaConstraints: { audio: true, video: false },
    pcConfig: { iceServers: [], rtcpMuxPolicy: 'require', bundlePolicy: 'max-bundle' },
    rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
  };
}

function playRemote(session) {
  const attach = (pc) => {
    pc.addEventListener('track', (ev) => {
      const audio = $('remote-audio');
      audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      audio.play().catch(() => {});
    });
  };
  if (session.connection) attach(session.connection);
  else session.on('peerconnection', (e) => attach(e.peerconnection));
}

function sessionHandlers() {
  return {
    // an incoming call's 'progress' is our own 180 Ringing: it stays 'incoming'
    progress: (e) => {
      if (e.originator === 'remote') setCallState('progress');
    },
    accepted: () => setCallState('accepted'),
    confirmed: () => {
      setCallState('confirmed');
      const peer = state.session ? state.session.remote_identity.uri.user : '';
      setStatus(`in call with ${peer}: media over DTLS-SRTP`);
    },
    ended: (e) => {
      setCallState('ended');
      setStatus(`call ended (${e.cause})`);
      state.session = null;
    },
    failed: (e) => {
      setCallState('failed');
      setStatus(`call failed: ${e.cause}` + (e.message && e.message.status_code ? ` (${e.message.status_code})` : ''));
      state.session = null;
    },
    sdp: (e) => {
      if (e.originator === 'local') e.sdp = filterCandidates(e.sdp, state.account.loopback_ice);
    },
  };
}

function attachHandlers(session) {
  const handlers = sessionHandlers();
  for (const name of Object.keys(handlers)) session.on(name, handlers[name]);
}

const api = {
  // Connect the WebSocket and REGISTER (JsSIP register: true: registering before the
  // socket is connected fails). Resolves with the registration time in ms.
  register() {
    return new Promise((resolve, reject) => {
      if (state.registered) {
        resolve(state.registerMs);
        return;
      }
      const a = state.account;
      const t0 = performance.now();
      const ua = new JsSIP.UA({
        sockets: [tracedSocket(a.ws_url)],
        uri: a.uri,
        password: a.password,
        display_name: a.display_name,
        register: true,
        register_expires: 300,
        session_timers: false,
        user_agent: 'voiplab browser phone (JsSIP)',
      });
      state.ua = ua;
      ua.on('connecting', () => setStatus(`connecting to ${a.ws_url}`));
      ua.on('connected', () => setStatus(`WebSocket open to ${a.ws_url}, registering`));
      ua.on('disconnected', () => {
        state.registered = false;
        setStatus('WebSocket closed');
      });
      ua.on('registered', () => {
        state.registered = true;
        state.registerMs = performance.now() - t0;
        setStatus(`registered as ${a.uri} (${state.registerMs.toFixed(0)} ms)`);
        setCallState(state.callState);
        resolve(state.registerMs);
      });
      ua.on('registrationFailed', (e) => {
        const code = e.response ? e.response.status_code : '';
        setStatus(`registration failed: ${e.cause} ${code}`);
        state.errors.push(`registration failed: ${e.cause} ${code}`);
        reject(new Error(`registration failed: ${e.cause} ${code}`));
      });
      ua.on('newRTCSession', (e) => {
        if (e.originator !== 'remote') return;
        const session = e.session;
        state.incoming = session;
        state.session = session;
        attachHandlers(session);
        playRemote(session);
        const from = session.remote_identity;
        setStatus(`incoming call from ${from.display_name || ''} <${from.uri.user}>`);
        setCallState('incoming');
      });
      ua.on('newMessage', (e) => {
        if (e.originator !== 'remote') return;
        const from = e.request.from.uri.user;
        showMessage('in', from, e.request.body);
      });
      ua.start();
    });
  },

  // Call a number (5000 music on hold, 5001 the Alcatel, ...).
  call(number) {
    if (!state.registered) throw new Error('the browser phone is not registered: register first');
    const target = `sip:${number}@${state.account.domain}`;
    $('number').value = number;
    setCallState('calling');
    setStatus(`calling ${number}`);
    const session = state.ua.call(target, { ...mediaOptions(), eventHandlers: sessionHandlers() });
    state.session = session;
    playRemote(session);
    return true;
  },

  answer() {
    const session = state.incoming;
    if (!session) throw new Error('no incoming call to answer');
    session.answer(mediaOptions());
    state.incoming = null;
    setStatus('answered');
    return true;
  },

  hangup() {
    if (state.session) state.session.terminate();
    state.session = null;
    state.incoming = null;
    return true;
  },

  sendMessage(to, text) {
    return new Promise((resolve, reject) => {
      const target = `sip:${to}@${state.account.domain}`;
      state.ua.sendMessage(target, text, {
        eventHandlers: {
          succeeded: (e) => {
            showMessage('out', to, text);
            resolve(e.response ? e.response.status_code : 200);
          },
          failed: (e) => reject(new Error(`MESSAGE to ${to} failed: ${e.cause}`)),
        },
      });
    });
  },

  // Packets and bytes of the call's RTP streams (RTCPeerConnection.getStats()).
  async stats() {
    const pc = state.session && state.session.connection;
    if (!pc) return null;
    const out = { inbound: null, outbound: null, transport: null, pair: null };
    const reports = await pc.getStats();
    reports.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out.inbound = { packets: r.packetsReceived, bytes: r.bytesReceived, lost: r.packetsLost, jitter: r.jitter };
      } else if (r.type === 'outbound-rtp' && r.kind === 'audio') {
        out.outbound = { packets: r.packetsSent, bytes: r.bytesSent };
      } else if (r.type === 'transport') {
        out.transport = {
          dtlsState: r.dtlsState, srtpCipher: r.srtpCipher, tlsVersion: r.tlsVersion,
          dtlsCipher: r.dtlsCipher, selectedCandidatePairId: r.selectedCandidatePairId,
        };
      }
    });
    if (out.transport && out.transport.selectedCandidatePairId) {
      const pair = reports.get(out.transport.selectedCandidatePairId);
      const local = pair && reports.get(pair.localCandidateId);
      const remote = pair && reports.get(pair.remoteCandidateId);
      if (local && remote) {
        out.pair = {
          local: `${local.address}:${local.port} (${local.candidateType})`,
          remote: `${remote.address}:${remote.port} (${remote.candidateType})`,
        };
      }
    }
    return out;
  },

  snapshot() {
    return {
      status: state.status, callState: state.callState, registered: state.registered,
      registerMs: state.registerMs, callTimes: state.callTimes, messages: state.messages,
      errors: state.errors,
    };
  },

  trace() {
    return state.trace;
  },
};

window.voiplab = api;

// -- the page's controls -----------------------------------------------------------
function setup() {
  for (const key of '123456789*0#') {
    const b = document.createElement('button');
    b.textContent = key;
    b.className = 'key';
    b.addEventListener('click', () => {
      $('number').value += key;
      if (state.session && state.callState === 'confirmed') state.session.sendDTMF(key);
    });
    $('pad').appendChild(b);
  }
  $('call').addEventListener('click', () => api.call($('number').value));
  $('hangup').addEventListener('click', () => api.hangup());
  $('answer').addEventListener('click', () => api.answer());
  $('send').addEventListener('click', () => {
    api.sendMessage($('to').value, $('text').value).catch((e) => setStatus(e.message));
  });
  setCallState('idle');
  // the media line: RTP packets in/out and the SRTP cipher, once a second during a call
  setInterval(async () => {
    const st = await api.stats().catch(() => null);
    if (!st || !st.inbound) return;
    const t = st.transport || {};
    $('media').textContent = `RTP in ${st.inbound.packets} / out ${st.outbound ? st.outbound.packets : 0} packets`
      + ` \u00b7 DTLS ${t.dtlsState || '?'} \u00b7 ${t.srtpCipher || 'no SRTP'}`;
  }, 1000);
}

async function boot() {
  setup();
  const params = new URLSearchParams(window.location.search);
  const name = params.get('account') || 'rpi';
  const token = params.get('token') || '';
  const response = await fetch(`accounts/${encodeURIComponent(name)}.json?token=${encodeURIComponent(token)}`);
  if (!response.ok) {
    setStatus(response.status === 403
      ? 'this page was opened without its token: open the address printed by "voiplab webrtc url"'
      : `account ${name} is not a WebRTC account of this lab`);
    return;
  }
  state.account = await response.json();
  $('who').textContent = `${state.account.display_name} <${state.account.number}>`;
  document.title = `${state.account.number} - voiplab browser phone`;
  setStatus('ready: not registered');
  if (params.get('autoregister') !== '0') {
    api.register().catch(() => {});
  }
}

window.voiplabReady = boot();
