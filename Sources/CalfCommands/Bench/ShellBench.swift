import Calf
import CalfBenchmarks
import CalfOperator
import CalfShell
import Foundation

/// An idle process for the shell benchmark.
struct IdleProcess: Behavior {
    typealias State = Void
    enum Message: Sendable { case nothing }
    func handle(_ message: Message, state: inout Void, context: inout Context<Message>) throws {}
}

/// The `shell` benchmark of `calf bench`: how long the shell's `ps`,
/// `stats` and a refresh of `top` (40 rows) take on a node holding many
/// processes, through the control socket.
enum ShellBench {
    static func run(processes: Int, report: Report) async throws {
        let node = try Node()
        for _ in 0..<processes { _ = try await node.spawn(IdleProcess()) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-bench-shell-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try ControlServer(node: node, path: dir + "/node.sock")
        defer { server.stop() }
        let client = try ControlClient(dataDirectory: dir)
        // Each round trip ends with the answer decoded into the types the shell prints from.
        func measure<Answer: Codable & Sendable>(_ label: String, _ request: ControlRequest, as type: Answer.Type) throws {
            var times: [Double] = []
            var transfers: [Double] = []
            var bytes = 0
            for _ in 0..<5 {
                let began = Date()
                let body = try client.exchange(request)
                let received = Date()
                let reply: ControlReply<Answer> = try client.decoded(body)
                _ = try reply.get()
                times.append(Date().timeIntervalSince(began))
                transfers.append(received.timeIntervalSince(began))
                bytes = body.count
            }
            times.sort()
            transfers.sort()
            report.figure("shell_\(label)", times[times.count / 2] * 1000, "ms", note: "median of 5 round trips to the decoded answer, \(processes) processes, \(bytes >> 10) KiB of JSON")
            report.figure("shell_\(label)_bytes", transfers[transfers.count / 2] * 1000, "ms", note: "the same round trips until the reply's bytes are in (not decoded)")
        }
        try measure("ps", .ps(order: .pid), as: [ProcessReport].self)
        try measure("ps_sorted", .ps(order: .messages), as: [ProcessReport].self)
        try measure("stats", .stats, as: NodeStats.self)
        try measure("top_refresh", .top(order: .rate, limit: 40), as: TopAnswer.self)
        try await node.shutdown()
    }
}
