import CalfControl
import Foundation
import Testing

/// Data directories written by earlier builds (`Tests/Fixtures`) open with
/// today's binary and read the same: the journal, the states, the tree's
/// restart counts, the dead letters and the idempotency keys; then the node
/// serves and writes on in today's format.
@Suite(.serialized, .timeLimit(.minutes(3))) struct GoldenDataTests {
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures")

    @Test(arguments: ["format1", "format2", "snapshot4"])
    func aDataDirectoryOfAnEarlierFormatReadsTheSameAndServes(format: String) async throws {
        let folder = Self.fixtures.appendingPathComponent(format)
        let tree = folder.appendingPathComponent("golden.yaml").path
        let expectedJournal = try String(contentsOf: folder.appendingPathComponent("journal.json"), encoding: .utf8)
        try await withTemporaryDataDirectory { dir in
            let data = dir + "/data"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: folder.appendingPathComponent("data.mdb").path, toPath: data + "/data.mdb")

            // Offline, read-only: exactly what the build of that format printed (which wrote each
            // message as JSON text in a string, where today's print it as a JSON value).
            var (status, out, err) = try await runCalf(["journal", "--data", data, "--json"])
            #expect(status == 0, "\(err)")
            #expect(try journalValues(out) == journalValues(expectedJournal), "\(out)")

            // The fixtures' keys were accepted when they were made: remembered for longer than their age.
            let keepKeys = ["--key-retention", "\(100 * 365 * 24 * 3600)"]
            var node = try await NodeProcess(data: data, tree: tree, durability: "process", extra: keepKeys)
            #expect(!node.output.withLock { $0 }.contains("quarantined"), "\(node.output.withLock { $0 })")
            if format == "snapshot4" {
                // Passivated when the folder was made: out of RAM after the start, their supervisors linked to them.
                (status, out, err) = try await runShell(data, ["ps"])
                let passivated = out.split(separator: "\n").filter { $0.contains(" passivated ") }.map { $0.split(separator: " ")[1] }
                #expect(passivated == ["account-2", "golden/pool/tally-2"], "\(out)")
            }
            (status, out, err) = try await runShell(data, [
                "state account-1", "state account-2", "state golden/pool/tally-1", "state golden/pool/tally-2",
            ])
            #expect(status == 0, "\(err)")
            #expect(out == "{\"balance\":1115}\n{\"balance\":506}\n{\"total\":5}\n{\"total\":7}\n")
            (status, out, err) = try await runShell(data, ["tree"])
            let lines = out.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("golden <0.1> [oneForOne, durable, 1 restart") == true, "\(out)")
            #expect(lines.contains { $0.contains("collector") && $0.hasSuffix("running, 1 restart") }, "\(out)")
            // Format 1 counted each of a poison message's three tries; what it journaled reads as it was.
            let poisonRestarts = format == "format1" ? "3 restarts" : "1 restart"
            #expect(lines.contains { $0.contains("pool <") && $0.contains("durable, \(poisonRestarts),") }, "\(out)")
            #expect(lines.contains { $0.contains("tally <0.3.0> Tally running, \(poisonRestarts)") }, "\(out)")
            #expect(lines.contains { $0.hasSuffix("tally <0.4.0> Tally running") }, "\(out)")
            (status, out, err) = try await runShell(data, ["dead"])
            #expect(out.contains("15") && out.contains("golden/pool/tally-1") && out.contains("Tally refuses poison"), "\(out)")
            // Its idempotency keys are remembered; new mail is taken.
            (status, out, err) = try await runShell(data, [
                #"send account-1 {"credit":{"amount":25}} --key c-1"#, #"send account-1 {"credit":{"amount":1}} --key c-3"#, #"call account-1 {"balance":{}}"#,
            ])
            #expect(out == "ok duplicate\nok\n1116\n", "\(out)\(err)")
            #expect(await node.stop() == 0)

            // The old records read as before, followed by today's.
            (status, out, err) = try await runCalf(["journal", "--data", data, "--json", "--limit", "1000"])
            let oldEntries = try journalValues(expectedJournal), nowEntries = try journalValues(out)
            #expect(nowEntries.count > oldEntries.count)
            for (before, after) in zip(oldEntries, nowEntries) {
                #expect(before == after, "\(before) vs \(after)")
            }

            // And again from what today's build wrote (its snapshots, with checksums).
            node = try await NodeProcess(data: data, tree: tree, durability: "process", extra: keepKeys)
            defer { _ = node.stop() }
            (status, out, err) = try await runShell(data, ["state account-1", "state golden/pool/tally-2"])
            #expect(out == "{\"balance\":1116}\n{\"total\":7}\n", "\(out)\(err)")
        }
    }
}

/// The entries of `calf journal --json` output as JSON values, a message
/// printed as JSON text inside a string (as builds before protocol 2 did)
/// read as the value it is.
private func journalValues(_ text: String) throws -> [JSONValue] {
    guard case .array(let entries) = try JSONValue(parsing: Array(text.utf8)) else { return [] }
    return try entries.map { entry in
        guard case .object(var fields) = entry else { return entry }
        if case .string(let message)? = fields["message"] { fields["message"] = try JSONValue(parsing: Array(message.utf8)) }
        return .object(fields)
    }
}
