import Calf
import CalfControl
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
    /// Requests waiting behind the one being answered (a well-formed frame
    /// whose request is wrong waits as its refusal, answered in its turn).
    private var queued: [Result<ControlRequest, ControlError>] = []
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
            endedAt = .now
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
                fail(ControlError(.badRequest, "frame of \(error.length) bytes is over the \(ControlProtocol.maximumFrame)-byte limit"))
                return
            }
            guard let body else { break }
            do {
                queued.append(.success(try JSONDecoder().decode(ControlRequest.self, from: Data(body))))
            } catch let mismatch as ControlRequest.VersionMismatch {
                fail(ControlError(.unsupportedVersion, mismatch.description))
                return
            } catch {
                // A frame of this version whose command or arguments are wrong is answered, and the
                // connection stays; anything else (not JSON, no version) ends it.
                let refusal = ControlError(.badRequest, "malformed request: \(Self.describe(error))")
                guard (try? JSONDecoder().decode(VersionOnly.self, from: Data(body)))?.v == ControlProtocol.version else {
                    fail(refusal)
                    return
                }
                queued.append(.failure(refusal))
            }
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
        let request: ControlRequest
        switch queued.removeFirst() {
        case .success(let asked): request = asked
        case .failure(let refusal):
            replied(.failure(refusal))
            return
        }
        let node = server.node
        let loop = server.loop
        switch request {
        case .trace(let target, let limit):
            startTrace(target, limit: limit)
        case .top(let order, let limit):
            answerTop(order: order, limit: limit)
        default:
            Task { [self] in
                let reply = await ControlAnswers.answer(request, on: node)
                loop.execute { [self] in replied(reply) }
            }
        }
    }

    private func replied(_ reply: EncodedReply) {
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

    private func startTrace(_ target: String, limit: Int?) {
        let node = server.node
        let loop = server.loop
        let limit = limit.map { max(1, $0) }
        Task { [self] in
            do throws(TraceError) {
                let trace = try await node.trace(target, limit: limit) { [weak self] in
                    guard let connection = self else { return }
                    loop.execute { connection.streamTrace() }
                }
                loop.execute { [self] in
                    guard !closed, !ended else {
                        trace.cancel("the shell left")
                        if !closed { replied(.failure(.cancelled, "the shell left")) }
                        return
                    }
                    activeTrace = trace
                    // The trace is on: the shell says so (and a script knows from when events count).
                    send(.streamed(TraceUpdate.following(target)))
                    streamTrace()
                }
            } catch {
                let refusal = switch error {
                case .noProcess: ControlError(.noProcess, error.description)
                case .alreadyTraced: ControlError(.alreadyTraced, error.description)
                }
                loop.execute { [self] in replied(.failure(refusal)) }
            }
        }
    }

    /// `top`: the top rows by the order asked, rates against this
    /// connection's previous `top` (the sampler lives on the loop thread).
    private func answerTop(order: TopOrder, limit: Int?) {
        let node = server.node
        let loop = server.loop
        let limit = min(max(limit ?? 50, 1), 10_000)
        Task { [self] in
            // Any order: the sampler orders its rows itself.
            let reports = await node.processReports(inPidOrder: false)
            let stats = await node.stats(window: .zero)
            let now = ContinuousClock.now
            loop.execute { [self] in
                guard !closed else { return }
                replied(.success(topSampler.answer(reports, stats: stats, at: now, order: order, limit: limit)))
            }
        }
    }

    /// Sends the trace events waiting (unless the client's unread replies
    /// are too many: they wait in the trace, which drops what overflows).
    private func streamTrace() {
        guard !closed, let trace = activeTrace else { return }
        guard pipe.pendingWriteBytes <= ControlServer.maximumBacklog else { return }
        let batch = trace.take()
        if batch.dropped > 0 { send(.streamed(TraceUpdate.dropped(batch.dropped))) }
        for event in batch.events {
            send(.streamed(TraceUpdate.event(TraceEvent(
                direction: event.direction, kind: event.kind, peer: event.peer,
                message: (try? JSONValue(parsing: event.message)) ?? .string(event.message), at: event.at))))
        }
        if let reason = batch.ended {
            activeTrace = nil
            replied(.success(TraceUpdate.ended(reason)))
        }
    }

    private func send(_ reply: EncodedReply, then done: (() -> Void)? = nil) {
        let frame = reply.frame
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
    func fail(_ error: ControlError) {
        guard !closed else { return }
        queued.removeAll()
        if reading {
            pipe.stopReading()
            reading = false
        }
        send(.failure(error)) { [self] in close() }
    }

    /// What a frame of any request holds: its version.
    private struct VersionOnly: Decodable { var v: Int }

    /// A decoding error as a sentence: what is wrong, and where.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.keyNotFound(_, let context),
             DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    /// Mid-frame for too long, or not reading its replies.
    /// Since when it has sat in the middle of a frame (nil: between frames).
    var partialFrameSince: ContinuousClock.Instant? { midFrameSince }

    /// Since when its client has sent nothing more (its answers still going out), if it has ended.
    private(set) var endedAt: ContinuousClock.Instant?

    /// Whether its client has closed its end, read or not yet.
    var clientLeft: Bool { pipe.peerHasHungUp }

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
