import CalfControl
import CalfShell
import Foundation
import Testing

/// A flood from outside at several times what the node can handle, through
/// the real binary, with a `kill -9` in the middle: the node's memory stays
/// bounded, the slow process's mailbox never passes its limit, every
/// message answered accepted is handled exactly once, and every other one
/// was refused `overloaded` (with a time to try again), nothing else.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FloodTests {
    let tree = packageRoot.appendingPathComponent("Tests/Fixtures/flood.yaml").path
    /// `Tests/Fixtures/flood.yaml`'s sink: 4 ms asleep a message, at most 2,000 from outside waiting.
    static let mailboxLimit = 2000
    /// What the node's resident memory stays under (measured: 60 MiB).
    static let rssBound = 256 << 20

    @Test func aFloodIsRefusedPastTheMailboxLimitAndNothingAcceptedIsLostOrDoubled() async throws {
        try await withTemporaryDataDirectory { dir in
            let options = ["--checkpoint-interval", "500", "--schedulers", "2"]
            let node = Locked<NodeProcess?>(try await NodeProcess(data: dir, tree: tree, durability: "process", extra: options))
            let clients = FloodClients(count: 8, window: 64, dataDirectory: dir, deadline: Date().addingTimeInterval(150))
            let sampler = NodeSampler(dataDirectory: dir, node: node)
            // Half a minute of flood, the kill, half a minute more.
            try await Task.sleep(for: .seconds(30))
            let beforeKill = clients.figures
            if let running = node.withLock({ $0 }) {
                node.withLock { $0 = nil }
                await running.killHard()
            }
            let restarted = try await NodeProcess(data: dir, tree: tree, durability: "process", extra: options)
            node.withLock { $0 = restarted }
            try await Task.sleep(for: .seconds(30))
            // No new numbers; what is under way (and whose answer a kill lost) is answered for good.
            clients.stop()
            #expect(await clients.finish(), "the clients did not finish: \(clients.figures)")
            await sampler.stop()
            let figures = clients.figures
            print("flood: \(figures), before the kill \(beforeKill); node RSS at most \(sampler.maximumRSS / 1_048_576) MiB, sink's mailbox at most \(sampler.maximumMailbox)")

            #expect(figures.accepted > 5_000, "too few accepted to say anything: \(figures)")
            #expect(figures.refused > figures.accepted, "the flood was not several times what the node handles: \(figures)")
            #expect(figures.otherAnswers.isEmpty, "answers other than ok and overloaded: \(figures.otherAnswers.prefix(3))")
            #expect(figures.refusedWithoutRetryAfter == 0, "overloaded answers without retryAfterMilliseconds")
            #expect(beforeKill.accepted > 0 && figures.accepted > beforeKill.accepted, "traffic on both sides of the kill: \(beforeKill) then \(figures)")
            #expect(sampler.samples > 20)
            #expect(sampler.maximumRSS > 0 && sampler.maximumRSS < Self.rssBound, "RSS reached \(sampler.maximumRSS) bytes")
            #expect(sampler.maximumMailbox <= Self.mailboxLimit, "the sink's mailbox held \(sampler.maximumMailbox)")

            // Every `add 1` answered accepted was handled once: the total is their number.
            let client = try ControlClient(dataDirectory: dir)
            func total() -> Int64? {
                guard case .success(let state)? = try? client.request(.state(of: "sink", at: nil)), case .integer(let total)? = state["total"] else { return nil }
                return total
            }
            #expect(await eventually(within: 60) { total() == Int64(figures.accepted) }, "the sink's total is \(total() ?? -1), accepted \(figures.accepted)")
            let last = node.withLock { $0 }
            #expect(await last?.stop() == 0)
        }
    }
}

/// The flood: `count` clients on threads of their own, each with a
/// connection and up to `window` requests pipelined on it, sending `add 1`
/// to `sink`, request n with the idempotency key `flood-n`. A request
/// answered `overloaded` is refused for good (nothing was written) unless
/// an earlier try of it met a kill, when its fate is unknown: it is sent
/// again until it is answered ok (accepted, or a duplicate of the try the
/// kill interrupted). Past `deadline` they give up.
final class FloodClients: Sendable {
    struct Figures: Sendable, CustomStringConvertible {
        var accepted = 0
        var refused = 0
        var refusedWithoutRetryAfter = 0
        var otherAnswers: [String] = []
        var description: String { "\(accepted) accepted, \(refused) refused overloaded" }
    }

    private let state = Locked((next: 0, stop: false, figures: Figures()))
    private let finished = EventCount()
    private let count: Int
    private let deadline: Date

    init(count: Int, window: Int, dataDirectory: String, deadline: Date) {
        self.count = count
        self.deadline = deadline
        for _ in 0..<count {
            Thread.detachNewThread { [self] in
                run(window: window, dataDirectory: dataDirectory)
                finished.bump()
            }
        }
    }

    var figures: Figures { state.withLock { $0.figures } }

    func stop() { state.withLock { $0.stop = true } }

    func finish() async -> Bool {
        await finished.reaches(count, within: max(0, deadline.timeIntervalSinceNow))
    }

    private func request(_ number: Int) -> ControlRequest {
        .send(to: "sink", message: ["add": ["_0": 1]], key: "flood-\(number)")
    }

    private func run(window: Int, dataDirectory: String) {
        // Numbers whose fate a broken connection hid: sent again until ok.
        var unknown: [Int] = []
        while Date() < deadline {
            guard let client = try? ControlClient(dataDirectory: dataDirectory) else {
                usleep(50_000)
                continue
            }
            // In flight on this connection, in the order sent (answers come in that order).
            var inFlight: [(number: Int, retried: Bool)] = []
            var broken = false
            while !broken, Date() < deadline {
                while inFlight.count < window {
                    let next: (Int, Bool)?
                    if let number = unknown.popLast() {
                        next = (number, true)
                    } else {
                        next = state.withLock { state -> (Int, Bool)? in
                            guard !state.stop else { return nil }
                            defer { state.next += 1 }
                            return (state.next, false)
                        }
                    }
                    guard let (number, retried) = next else { break }
                    do {
                        try client.sendRequest(request(number))
                        inFlight.append((number, retried))
                    } catch {
                        unknown.append(number)
                        broken = true
                        break
                    }
                }
                if inFlight.isEmpty { return }
                if broken { break }
                let (number, retried) = inFlight.removeFirst()
                guard let body = try? client.receiveReply(), let reply = try? client.decoded(body) as ControlReply<JSONValue> else {
                    unknown.append(number)
                    broken = true
                    break
                }
                switch reply {
                case .success, .streamed:
                    state.withLock { $0.figures.accepted += 1 }
                case .failure(let error) where error.code == .overloaded:
                    if retried {
                        // An earlier try may have been taken before the kill: its answer decides.
                        unknown.insert(number, at: 0)
                        usleep(2_000)
                    } else {
                        state.withLock {
                            $0.figures.refused += 1
                            if error.retryAfterMilliseconds == nil { $0.figures.refusedWithoutRetryAfter += 1 }
                        }
                    }
                case .failure(let error) where error.code == .notAccepted && error.message.contains("stopped"):
                    // The node is going down (the kill's moment): its fate is unknown.
                    unknown.append(number)
                case .failure(let error):
                    state.withLock { $0.figures.otherAnswers.append("\(error.code): \(error.message)") }
                }
            }
            // Whatever was in flight when the connection broke has an unknown fate.
            unknown.append(contentsOf: inFlight.map(\.number))
            usleep(20_000)
        }
    }
}

/// Samples the node's resident memory (`/proc/PID/status`) and the sink's
/// mailbox (`info sink`) every 200 ms until stopped.
final class NodeSampler: Sendable {
    private let figures = Locked((samples: 0, rss: 0, mailbox: 0, stop: false))
    private let done = EventCount()

    init(dataDirectory: String, node: Locked<NodeProcess?>) {
        Thread.detachNewThread { [self] in
            var client: ControlClient?
            while !figures.withLock({ $0.stop }) {
                usleep(200_000)
                guard let pid = node.withLock({ $0?.process.processIdentifier }) else { continue }
                let rss = Self.residentBytes(of: pid)
                if client == nil { client = try? ControlClient(dataDirectory: dataDirectory) }
                var mailbox: Int?
                if case .success(let info)? = try? client?.request(.info("sink")), case .integer(let count)? = info["mailbox"] {
                    mailbox = Int(count)
                } else {
                    client = nil
                }
                figures.withLock { figures in
                    if let rss { figures.rss = max(figures.rss, rss) }
                    if let mailbox {
                        figures.mailbox = max(figures.mailbox, mailbox)
                        figures.samples += 1
                    }
                }
            }
            done.bump()
        }
    }

    var maximumRSS: Int { figures.withLock { $0.rss } }
    var maximumMailbox: Int { figures.withLock { $0.mailbox } }
    var samples: Int { figures.withLock { $0.samples } }

    func stop() async {
        figures.withLock { $0.stop = true }
        _ = await done.reaches(1, within: 10)
    }

    /// VmRSS of process `pid`, in bytes.
    static func residentBytes(of pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kilobytes * 1024
    }
}
