import Calf

/// Counts messages and reports the time when it has seen `expected`.
struct Sink: Behavior {
    typealias State = Int
    let expected: Int
    let done: Address<Double>

    func initialState() -> Int { 0 }

    func handle(_ message: Int, state: inout Int, context: inout Context<Int>) {
        state += 1
        if state == expected { context.send(now(), to: done) }
    }
}

/// Sends `count` messages to the sink when told to go.
struct Sender: Behavior {
    typealias State = Void
    let sink: Address<Int>
    let count: Int

    func handle(_ message: Bool, state: inout Void, context: inout Context<Bool>) {
        for i in 0..<count { context.send(i, to: sink) }
    }
}

/// The `fanin` benchmark of `calf bench`.
public enum FanInBench {
    /// Runs the benchmark and prints its figures to `report`.
    public static func run(senders: Int, perSender: Int, schedulers: Int, report: Report) async throws {
        for (label, count) in [("fanin", 1), ("fanin_all_schedulers", schedulers)] where count <= schedulers {
            if label == "fanin_all_schedulers" && count == 1 { continue }
            let node = try Node(schedulers: count)
            let (done, stream) = try await node.receiver(of: Double.self)
            let sink = try await node.spawn(Sink(expected: senders * perSender, done: done), on: 0)
            var all: [Address<Bool>] = []
            for i in 0..<senders {
                all.append(try await node.spawn(Sender(sink: sink, count: perSender), on: i % count))
            }
            let start = now()
            for sender in all { node.send(true, to: sender) }
            var iterator = stream.makeAsyncIterator()
            let end = await iterator.next() ?? now()
            report.figure(label, Double(senders * perSender) / (end - start), "msgs/s",
                          note: "\(senders) senders x \(perSender) on \(count) scheduler(s)")
            try await node.shutdown()
        }
    }
}
