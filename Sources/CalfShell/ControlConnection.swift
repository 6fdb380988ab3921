import Calf
import CalfLoop
import FoundationEssentials

/// One client of the control socket: reads its frames, answers its requests
/// one at a time and in order, and keeps what it holds bounded (see
/// `ControlServer`).
///
/// Thread ownership: the control loop's thread (requests are answered by
/// tasks, whose replies come back through `loop.execute`).
final class ControlConnection: @unchecked Sendable {
    private unowned let server: ControlServer
    private let pipe: LoopPipe
    private var reader = FrameReader(maximum: ControlProtocol.maximumFrame)
    /// Requests waiting behind the one being answered.
    private var queued: [ControlProtocol.Request] = []
    private var answering = false
    /// Reading (not paused for back-pressure, not ended).
    private var reading = false
    /// Paused: too many requests wait.
    private var paused = false
    /// The client has sent all it will (end of stream).
    private var ended = false
    private var closed = false
    /// When the frame now being read began to arrive.
    private var midFrameSince: ContinuousClock.Instant?
    /// Answers wait for the reply backlog to drain.
    private var waitingForDrain = false
    /// When a write last completed (or began, after none were pending).
    private var lastWriteProgress = ContinuousClock.now
    /// The trace this connection streams, while its `trace` request is answered.
    private var activeTrace: ProcessTrace?
    /// What this connection's `top` requests remember between them.
    private var topSampler = TopSampler()

    init(server: ControlServer, pipe: LoopPipe) {
        self.server = server
        self.pipe = pipe
    }

    func start() { resumeReading() }

    private func resumeReading() {
        guard !closed, !reading, !ended else { return }
        reading = true
        do {
            try pipe.startReading { [unowned self] chunk in received(chunk) }
        } catch {
            close()
        }
    }

    private func received(_ chunk: [UInt8]?) {
        guard !closed else { return }
        guard let chunk else {
            // The client sent all it will: what it asked is still answered.
            ended = true
            reading = false
            midFrameSince = nil
            // A shell that stops following a trace closes its side.
            activeTrace?.cancel("the shell stopped following")
            if !answering, queued.isEmpty { close() }
            return
        }
        reader.append(chunk)
        while !closed {
            let body: [UInt8]?
            do throws(FrameReader.TooLarge) {
                body = try reader.next()
            } catch {
                fail("frame of \(error.length) bytes is over the \(ControlProtocol.maximumFrame)-byte limit")
                return
            }
            guard let body else { break }
            let request: ControlProtocol.Request
            do {
                request = try JSONDecoder().decode(ControlProtocol.Request.self, from: Data(body))
            } catch {
                fail("malformed request: \(error)")
                return
            }
            guard request.v == ControlProtocol.version else {
                fail("protocol version \(request.v) is not spoken here (this node speaks \(ControlProtocol.version))")
                return
            }
            queued.append(request)
        }
        guard !closed else { return }
        midFrameSince = reader.isMidFrame ? (midFrameSince ?? .now) : nil
        if queued.count >= ControlServer.queuedPerConnection, reading {
            // Back-pressure: take no more until the queue drains.
            pipe.stopReading()
            reading = false
            paused = true
        }
        answerNext()
    }

    private func answerNext() {
        guard !closed, !answering, !queued.isEmpty else { return }
        // A client that does not read its replies gets no more answers until it does.
        guard pipe.pendingWriteBytes <= ControlServer.maximumBacklog else {
            waitingForDrain = true
            return
        }
        answering = true
        let request = queued.removeFirst()
        let node = server.node
        let loop = server.loop
        if request.cmd == "trace" {
            startTrace(request)
            return
        }
        if request.cmd == "top" {
            answerTop(request)
            return
        }
        Task { [self] in
            let reply = await ControlServer.handle(request, on: node)
            loop.execute { [self] in replied(reply) }
        }
    }

    private func replied(_ reply: ControlProtocol.Reply) {
        answering = false
        guard !closed else { return }
        if ended, queued.isEmpty {
            send(reply) { [self] in close() }
            return
        }
        send(reply)
        if paused, queued.count <= ControlServer.queuedPerConnection / 2 {
            paused = false
            resumeReading()
        }
        answerNext()
    }

    private func startTrace(_ request: ControlProtocol.Request) {
        let node = server.node
        let loop = server.loop
        let limit = request.limit.map { max(1, $0) }
        Task { [self] in
            do {
                let trace = try await node.trace(request.target, limit: limit) { [weak self] in
                    guard let connection = self else { return }
                    loop.execute { connection.streamTrace() }
                }
                loop.execute { [self] in
                    guard !closed, !ended else {
                        trace.cancel("the shell left")
                        if !closed { replied(.failure("the shell left")) }
                        return
                    }
                    activeTrace = trace
                    // The trace is on: the shell says so (and a script knows from when events count).
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = .withoutEscapingSlashes
                    if let following = try? encoder.encode(["following": request.target]) {
                        send(.streamed(String(decoding: following, as: UTF8.self)))
                    }
                    streamTrace()
                }
            } catch {
                loop.execute { [self] in replied(.failure("\(error)")) }
            }
        }
    }

    /// `top`: the top rows by the order asked, rates against this
    /// connection's previous `top` (the sampler lives on the loop thread).
    private func answerTop(_ request: ControlProtocol.Request) {
        guard let order = TopView.Order(name: request.sort) else {
            replied(.failure("top orders by rate, mailbox, memory or restarts, not '\(request.sort ?? "")'"))
            return
        }
        let node = server.node
        let loop = server.loop
        let limit = min(max(request.limit ?? 50, 1), 10_000)
        Task { [self] in
            let reports = await node.processReports()
            let stats = await node.stats(window: .zero)
            let now = ContinuousClock.now
            loop.execute { [self] in
                guard !closed else { return }
                replied(ControlServer.encoded(topSampler.answer(reports, stats: stats, at: now, order: order, limit: limit)))
            }
        }
    }

    /// Sends the trace events waiting (unless the client's unread replies
    /// are too many: they wait in the trace, which drops what overflows).
    private func streamTrace() {
        guard !closed, let trace = activeTrace else { return }
        guard pipe.pendingWriteBytes <= ControlServer.maximumBacklog else { return }
        let batch = trace.take()
        if batch.dropped > 0 { send(.streamed(#"{"dropped":\#(batch.dropped)}"#)) }
        for event in batch.events {
            guard let json = try? JSONEncoder().encode(event) else { continue }
            send(.streamed(String(decoding: json, as: UTF8.self)))
        }
        if let reason = batch.ended {
            activeTrace = nil
            replied(.success("trace ended: \(reason)"))
        }
    }

    private func send(_ reply: ControlProtocol.Reply, then done: (() -> Void)? = nil) {
        guard let frame = try? ControlProtocol.frame(reply) else { return }
        if pipe.pendingWriteBytes == 0 { lastWriteProgress = .now }
        do {
            try pipe.write(frame) { [self] in
                lastWriteProgress = .now
                done?()
                if activeTrace != nil, pipe.pendingWriteBytes <= ControlServer.maximumBacklog { streamTrace() }
                if waitingForDrain, pipe.pendingWriteBytes <= ControlServer.maximumBacklog {
                    waitingForDrain = false
                    answerNext()
                }
            }
        } catch {
            close()
        }
    }

    /// Replies with `error`, then closes.
    func fail(_ error: String) {
        guard !closed else { return }
        queued.removeAll()
        if reading {
            pipe.stopReading()
            reading = false
        }
        send(.failure(error)) { [self] in close() }
    }

    /// Mid-frame for too long, or not reading its replies.
    func isStuck(now: ContinuousClock.Instant) -> Bool {
        if pipe.pendingWriteBytes > 0, now - lastWriteProgress > ControlServer.stalledReplyTimeout { return true }
        if let since = midFrameSince, now - since > ControlServer.partialFrameTimeout { return true }
        return false
    }

    func close() {
        guard !closed else { return }
        closed = true
        queued.removeAll()
        activeTrace?.cancel("the shell left")
        activeTrace = nil
        pipe.close()
        server.forget(self)
    }
}
