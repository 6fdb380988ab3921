import Calf
import CalfControl
import CalfShell
import CalfStore
import Foundation
import Testing

/// Promises kept where a user meets them, through the real `calf` binary:
/// no child outlives a supervisor killed from the shell, and a byte
/// flipped on the disk quarantines exactly the process it belongs to.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ReliabilityTests {
    @Test func aSupervisorKilledFromTheShellTakesAChildThatIgnoresShutdownWithIt() async throws {
        try await withTemporaryDataDirectory { dir in
            let tree = dir + "/tree.yaml"
            try """
            supervisor: root
            intensity: 5
            children:
              - supervisor: inner
                children:
                  - worker: stubborn
                    behavior: Stubborn
                    shutdown: 300
            """.write(toFile: tree, atomically: true, encoding: .utf8)
            let node = try await NodeProcess(data: dir + "/data", tree: tree, durability: "process")
            defer { _ = node.stop() }
            let data = dir + "/data"
            let (_, before, _) = try await runShell(data, ["tree"])
            let inner = try #require(Self.pid(of: "inner", in: before), "\(before)")
            let stubborn = try #require(Self.pid(of: "stubborn", in: before), "\(before)")
            var (status, out, err) = try await runShell(data, ["kill \(inner)"])
            #expect(status == 0, "\(out)\(err)")
            // Its shutdown time (300 ms) after the supervisor's death, the child is gone.
            let gone = await eventually(within: 10) {
                guard let (status, _, _) = try? await runShell(data, ["info \(stubborn)"]) else { return false }
                return status != 0
            }
            #expect(gone, "the child outlived its killed supervisor")
            (status, out, err) = try await runShell(data, ["info \(stubborn)"])
            #expect(err.contains("no process"), "\(out)\(err)")
            // The root restarted `inner`, and with it a new child.
            #expect(await eventually(within: 10) {
                guard let (_, after, _) = try? await runShell(data, ["tree"]) else { return false }
                return Self.pid(of: "stubborn", in: after).map { $0 != stubborn } ?? false
            })
        }
    }

    @Test func aByteFlippedInsideARecordsPayloadQuarantinesExactlyThatProcess() async throws {
        let bank = packageRoot.appendingPathComponent("Supervisors/bank.yaml").path
        // No checkpoint round: everything after the spawns is replayed at the next start.
        let options = ["--checkpoint-interval", "3600000"]
        try await withTemporaryDataDirectory { dir in
            var node = try await NodeProcess(data: dir, tree: bank, durability: "process", extra: options)
            var (status, out, err) = try await runShell(dir, [
                #"send account-3 {"credit":{"amount":11}} --key k-3"#,
                #"send account-7 {"credit":{"amount":13}} --key k-7"#,
            ])
            #expect(status == 0 && out == "ok\nok\n", "\(out)\(err)")
            await node.killHard()
            let (victim, seq) = try Self.flipPayloadByte(in: dir, ofMessageWithKey: "k-3")

            node = try await NodeProcess(data: dir, tree: bank, durability: "process", extra: options)
            defer { _ = node.stop() }
            let log = node.output.withLock { $0 }
            let quarantines = log.split(separator: "\n").filter { $0.hasPrefix("calf: ") && $0.contains("quarantined") }
            #expect(quarantines.count == 1, "\(log)")
            #expect(quarantines.first?.contains("\(victim) quarantined: log record \(seq) is corrupt: checksum mismatch") == true, "\(log)")
            (status, out, err) = try await runShell(dir, ["state account-3"])
            #expect(status != 0 && err.contains("quarantined"), "\(out)\(err)")
            // The others serve, with what they were sent.
            (status, out, err) = try await runShell(dir, ["state account-7", #"send account-7 {"credit":{"amount":1}}"#, #"call account-7 {"balance":{}}"#, "state account-4"])
            #expect(status == 0, "\(out)\(err)")
            #expect(out == "{\"balance\":1013}\nok\n1014\n{\"balance\":1000}\n")
            // The shell's journal shows the corrupt record for what it is.
            (status, out, err) = try await runShell(dir, ["journal account-3"])
            #expect(out.contains("\(seq)") && out.contains("corrupt") && out.contains("checksum mismatch"), "\(out)\(err)")
        }
    }

    /// Flips the first payload byte of the accepted record with idempotency
    /// key `key`, leaving its stored checksum as it was; returns the
    /// recipient's pid and the record's seq.
    static func flipPayloadByte(in dir: String, ofMessageWithKey key: String) throws -> (pid: String, seq: UInt64) {
        let environment = try StoreEnvironment(path: dir)
        defer { environment.close() }
        let journal = try Journal(environment: environment)
        var found: (seq: UInt64, to: UInt64, stored: [UInt8], payloadStart: Int)?
        let log = journal.log
        try environment.read { txn in
            try txn.withCursor(log) { cursor in
                var entry = try cursor.first()
                while let (rawKey, value) = entry, found == nil {
                    if let seq = StoreKey.uint64(in: rawKey),
                       let fields = try LogRecord.acceptedFields(in: UnsafeRawBufferPointer(rebasing: value.dropLast(Checksum.size)), seq: seq),
                       fields.key == key {
                        found = (seq, fields.to, Array(value), fields.payloadStart)
                    }
                    entry = try cursor.next()
                }
            }
        }
        guard var record = found else { throw NodeProcess.Failure(description: "no record with key \(key)") }
        record.stored[record.payloadStart] ^= 0x01
        let bytes = record.stored
        try environment.write { txn in try txn.put(log, key: StoreKey(record.seq), value: bytes) }
        return (Pid(serial: record.to).description, record.seq)
    }

    /// The pid `tree` shows for child `id`.
    static func pid(of id: String, in tree: String) -> String? {
        for line in tree.split(separator: "\n") {
            let words: [String] = line.split(separator: " ").map(String.init)
            guard let index = words.firstIndex(of: id), index + 1 < words.count else { continue }
            let next = words[index + 1]
            if next.hasPrefix("<") { return next }
        }
        return nil
    }
}

/// A failed commit without root: the node under `ulimit -f`, so that
/// LMDB's writes past the limit fail (EFBIG) as on a full disk.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FailedCommitTests {
    @Test func aWriteThatFailsStopsTheIntakeAndARestartHasEveryAcceptedTransferOnce() async throws {
        let bank = packageRoot.appendingPathComponent("Supervisors/bank.yaml").path
        try await withTemporaryDataDirectory { dir in
            // 2 MiB of file: the tree's start fits, a few thousand transfers do not.
            var node = try await NodeProcess(data: dir, tree: bank, durability: "process",
                                             extra: ["--checkpoint-interval", "3600000", "--http", "127.0.0.1:0"], fileSizeLimit: 4096)
            let base = try HTTPAPITests.baseURL(of: node)
            #expect(try await HTTPAPITests.request("GET", base + "/healthz", token: nil).status == 200)
            let client = try ControlClient(dataDirectory: dir)
            var accepted: [Int] = []
            var failure: String?
            var firstSeq: UInt64?
            for n in 0..<200_000 {
                let reply = try client.request(.send(to: "teller", message: transfer(from: n % 16, to: (n + 1) % 16), key: "t-\(n)"), as: SendAnswer.self)
                switch reply {
                case .failure(let error): failure = error.message
                case .success(let answer), .streamed(let answer):
                    accepted.append(n)
                    if firstSeq == nil { firstSeq = answer.seq }
                }
                if failure != nil { break }
            }
            #expect(failure?.contains("journal commit failed") == true, "\(failure ?? "the file limit was never reached")")
            #expect(accepted.count > 100, "some transfers went in first")
            // Latched: nothing more is taken.
            let after = try client.request(.send(to: "teller", message: transfer(from: 1, to: 2), key: "after"))
            #expect(after.isFailure(.notAccepted), "\(after)")
            // Logged by the writer as it latches, which may come just after the refusal's answer.
            #expect(await eventually { node.output.withLock { $0 }.contains("the node accepts nothing more until it restarts") })
            // Over HTTP: not healthy, and mail is refused with 503 and Retry-After.
            let health = try await HTTPAPITests.request("GET", base + "/healthz", token: nil)
            #expect(health.status == 503 && health.json?["status"] == "refusing" && health.body.contains("journal commit failed"))
            let token = try String(contentsOfFile: dir + "/http.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let refused = try await HTTPAPITests.request("POST", base + "/v1/processes/teller/messages", token: token,
                                                         body: #"{"transfer":{"from":1,"to":2,"amount":1}}"#)
            #expect(refused.status == 503 && refused.headers["retry-after"] != nil, "\(refused.status) \(refused.body)")
            // A node that refuses intake still stops in order when asked (its last checkpoint round refused, not awaited forever).
            kill(node.process.processIdentifier, SIGTERM)
            let stopped = await eventually(within: 20) { !node.process.isRunning }
            #expect(stopped, "a node with a failed commit did not stop on SIGTERM")
            await node.killHard()

            // Without the limit: every accepted transfer is there, once; the refused ones are not.
            node = try await NodeProcess(data: dir, tree: bank, durability: "process")
            defer { _ = node.stop() }
            let teller = try ControlClient(dataDirectory: dir).request(.state(of: "teller", at: nil))
            #expect(await eventually { (try? ControlClient(dataDirectory: dir).text(.state(of: "teller", at: nil))) == "{\"transfers\":\(accepted.count)}" },
                    "\(teller)")
            // The keys of accepted transfers are remembered; a refused one is taken now.
            let again = try ControlClient(dataDirectory: dir).request(.send(to: "teller", message: transfer(from: 0, to: 1), key: "t-\(accepted[0])"), as: SendAnswer.self)
            #expect(firstSeq != nil)
            #expect(again == .success(SendAnswer(seq: firstSeq, duplicate: true)))
            if let refused = accepted.last.map({ $0 + 1 }) {
                let fresh = try ControlClient(dataDirectory: dir).request(.send(to: "teller", message: transfer(from: 0, to: 1), key: "t-\(refused)"), as: SendAnswer.self)
                #expect((try? fresh.get())?.duplicate == false, "\(fresh)")
            }
        }
    }
}

/// A port's command inherits none of the node's descriptors (its journal,
/// its lock, its control socket), and what it writes to stderr is logged.
@Suite(.timeLimit(.minutes(3))) struct PortBoundaryTests {
    @Test func aPortSeesNoneOfTheNodesFilesAndItsStderrIsLogged() async throws {
        try await withTemporaryDataDirectory { dir in
            let tree = dir + "/tree.yaml"
            try #"""
            supervisor: root
            children:
              - worker: log
                behavior: PortLog
              - port: lister
                command: [/bin/sh, -c, "echo from-stderr >&2; for fd in /proc/$$/fd/*; do echo \"fd $(readlink $fd)\" >&2; done; echo listed >&2; sleep 60"]
                owner: log
            """#.write(toFile: tree, atomically: true, encoding: .utf8)
            let node = try await NodeProcess(data: dir + "/data", tree: tree, durability: "process")
            defer { _ = node.stop() }
            #expect(await eventually { node.output.withLock { $0 }.contains("sleep 60): listed") })
            let log = node.output.withLock { $0 }
            #expect(log.contains("sleep 60): from-stderr"), "\(log)")
            // Each logged line ends with what the command wrote: "fd TARGET".
            let descriptors = log.split(separator: "\n").compactMap { line -> String? in
                guard let range = line.range(of: "sleep 60): fd ") else { return nil }
                return String(line[range.upperBound...])
            }
            #expect(descriptors.count >= 3, "\(descriptors) in \(log)")
            // The control socket's inode, from the kernel's table of Unix sockets.
            // (Read to its end: a /proc file says it is empty, and it can be long beside other tests' sockets.)
            let table = String(decoding: FileHandle(forReadingAtPath: "/proc/net/unix")?.readDataToEndOfFile() ?? Data(), as: UTF8.self)
            let socketInode = table.split(separator: "\n").first { $0.hasSuffix(dir + "/data/node.sock") }?.split(separator: " ").dropLast().last
            #expect(socketInode != nil, "the control socket is not in /proc/net/unix")
            for target in descriptors {
                #expect(!target.contains(dir), "a file of the data directory reached the port: \(target)")
                #expect(target != "socket:[\(socketInode ?? "?")]", "the control socket reached the port")
            }
            // Only its three standard streams are sockets (libuv's socket pairs).
            #expect(descriptors.filter { $0.hasPrefix("socket:") }.count == 3, "\(descriptors)")
        }
    }
}
