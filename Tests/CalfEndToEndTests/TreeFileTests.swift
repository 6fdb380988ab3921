import Foundation
import Testing

/// `calf node` checks a whole tree file before it starts anything.
@Suite(.timeLimit(.minutes(2))) struct TreeFileTests {
    /// Runs `calf node` on a tree file holding `yaml`; returns its status,
    /// stdout and stderr, and whether it made its data directory's socket.
    func boot(_ yaml: String) async throws -> (status: Int32, out: String, errors: String, socket: Bool) {
        try await withTemporaryDataDirectory { dir in
            let tree = dir + "/tree.yaml"
            try yaml.write(toFile: tree, atomically: true, encoding: .utf8)
            let (status, out, text) = try await runCalf(["node", "--data", dir + "/data", tree])
            let socket = FileManager.default.fileExists(atPath: dir + "/data/node.sock")
            return (status, out, text.replacingOccurrences(of: dir, with: "DIR"), socket)
        }
    }

    static let cases: [(String, String)] = [
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    colour: red\n", "DIR/tree.yaml:5:5: unknown key 'colour' for a worker"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Nope\n", "DIR/tree.yaml:4:15: unknown behavior 'Nope' (known: Account, Collector, Flaky, Orders, PortLog, Producer, RemoteJob, Stamper, Stubborn, Tally, Teller, Waiter)"),
        ("supervisor: s\nstrategy: oneForSome\nchildren: []\n", "DIR/tree.yaml:2:11: strategy must be oneForOne, oneForAll, restForOne or simpleOneForOne"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    shutdown: soon\n", "DIR/tree.yaml:5:15: shutdown must be milliseconds, brutalKill or infinity"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    config: { opening: lots }\n", "DIR/tree.yaml:3:5: bad config for Account"),
        ("supervisor: s\nchildren:\n  - port: p\n    command: ls\n", "DIR/tree.yaml:3:5: port 'p' needs a command: a list of strings"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Teller\n  - worker: a\n    behavior: Teller\n", "DIR/tree.yaml:5:5: child id 'a' appears twice"),
        ("supervisor: s\nstrategy: simpleOneForOne\nchildren: []\n", "DIR/tree.yaml:3:11: a simpleOneForOne supervisor has a 'template', not 'children'"),
        ("supervisor: s\nstrategy: simpleOneForOne\nstart: 2\n", "DIR/tree.yaml:1:1: simpleOneForOne supervisor 's' needs a 'template'"),
        ("supervisor: s\nstart: 2\nchildren: []\n", "DIR/tree.yaml:2:8: 'start' belongs to a simpleOneForOne supervisor"),
        ("supervisor: s\ndurable: maybe\nchildren: []\n", "DIR/tree.yaml:2:10: durable must be true or false"),
        ("supervisor: s\nchildren:\n  - worker: c\n    behavior: Collector\n    mode: fresh\n", "DIR/tree.yaml:5:11: mode is for durable workers"),
        ("supervisor: s\nchildren:\n  - worker: p\n    behavior: Producer\n    config: { intervalMilliseconds: soon, target: x }\n", "DIR/tree.yaml:3:5: bad config for Producer"),
        // Numbers from outside: negative, absurd or not numbers at all give an error, never a trap.
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    shutdown: -10\n", "DIR/tree.yaml:5:15: shutdown must be milliseconds, brutalKill or infinity, not '-10'"),
        ("supervisor: s\nintensity: -1\nchildren: []\n", "DIR/tree.yaml:2:12: intensity must be a whole number of at least 0, not '-1'"),
        ("supervisor: s\nperiod: 0\nchildren: []\n", "DIR/tree.yaml:2:9: period must be a whole number of at least 1, not '0'"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    shutdown: 99999999999999999999999\n", "DIR/tree.yaml:5:15: shutdown must be milliseconds"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    backoff: { initial: 10, maximum: 100, multiplier: fast }\n", "DIR/tree.yaml:5:55: multiplier must be a number from 1 to 1000, not 'fast'"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    backoff: { initial: 10, maximum: 100, multiplier: .inf }\n", "DIR/tree.yaml:5:55: multiplier must be a number from 1 to 1000, not '.inf'"),
        ("supervisor: s\nchildren:\n  - worker: a\n    behavior: Account\n    backoff: { initial: -5, maximum: 100 }\n", "DIR/tree.yaml:5:25: initial must be a whole number of at least 1, not '-5'"),
        ("supervisor: s\nchildren:\n  - port: p\n    command: [ls]\n    killAfter: -1\n", "DIR/tree.yaml:5:16: killAfter must be a whole number of at least 0, not '-1'"),
        // A graph entry is checked whole, as a graph file is.
        ("supervisor: s\nchildren:\n  - graph: dev\n    tasks:\n      - job: a\n        shell: \"true\"\n        dependsOn: [bulid]\n", "DIR/tree.yaml:7:21: task a depends on 'bulid', which is not a task (tasks: a)"),
    ]

    @Test(arguments: cases)
    func errorsNameTheFileLineAndColumn(yaml: String, expected: String) async throws {
        let (status, out, errors, socket) = try await boot(yaml)
        #expect(status != 0)
        #expect(errors.contains(expected), "\(errors)")
        // Nothing started: no ready line (it goes to stdout), no socket left behind.
        #expect(!out.contains("calf node ready"), "\(out)")
        #expect(!socket)
    }
}
