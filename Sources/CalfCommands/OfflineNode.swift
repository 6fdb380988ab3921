import ArgumentParser
import Calf
import CalfOperator
import CalfShell
import CalfStore
import Dispatch
import Foundation

/// What `calf shell --offline` talks to: a node brought up, for inspection
/// only, on a copy of a data directory. The directory itself is only read
/// (one LMDB read transaction copies it, so a node running there is not
/// held up); in the copy every durable process comes back as a node start
/// would bring it (snapshot, replay, names, mailbox), suspended, so what the
/// shell shows is what the directory holds. The copy is removed on `close`.
final class OfflineNode {
    /// The commands that need processes to run, refused offline.
    static let liveOnly: Set<String> = ["send", "call", "kill", "restart", "suspend", "resume", "passivate", "move", "dead-retry", "trace", "top", "tree"]

    /// Where the copy is (its control socket is `DIR/node.sock`).
    let directory: String
    private let node: Calf.Node
    private let server: ControlServer

    /// Copies `dataDirectory` and brings a node up on the copy.
    init(dataDirectory: String, behaviors: [any DurableBehavior.Type]) throws {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/data.mdb") else {
            throw ValidationError("no journal in \(dataDirectory) (no data.mdb there)")
        }
        let template = NSTemporaryDirectory() + "calf-offline-XXXXXX"
        var path = Array(template.utf8CString)
        guard mkdtemp(&path) != nil else { throw ValidationError("cannot make a scratch directory in \(NSTemporaryDirectory())") }
        directory = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do {
            let source = try StoreEnvironment(path: dataDirectory, readOnly: true)
            defer { source.close() }
            try source.copy(to: directory)
            var options = DurableOptions(path: directory, durability: .process, behaviors: behaviors)
            options.inspecting = true
            options.checkpointAtShutdown = false
            let node = try Calf.Node(durable: options)
            do {
                server = try ControlServer(node: node, path: directory + "/node.sock")
            } catch {
                Self.wait { _ = try? await node.shutdown() }
                throw error
            }
            self.node = node
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// The node on the copy (every process suspended).
    var inspected: Calf.Node { node }

    /// Processes the copy could not bring back, and why.
    var quarantined: [Pid: String] { node.recoveryReport?.quarantined ?? [:] }

    /// Stops the node and removes the copy.
    func close() {
        server.stop()
        let node = self.node
        Self.wait { _ = try? await node.shutdown() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func wait(_ body: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        Task {
            await body()
            done.signal()
        }
        done.wait()
    }
}
