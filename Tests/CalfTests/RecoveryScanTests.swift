import Calf
@testable import CalfDurable
@testable import CalfRuntime
import CalfStore
import Testing

/// The phases of a node start that only read the journal, on journals
/// written record by record: what each process received, handled and must
/// replay, its timers and exit, the keys, and who comes back quarantined.
@Suite(.timeLimit(.minutes(1))) struct RecoveryScanTests {
    let p: UInt64 = Pid.durableFlag | 1 << 8
    let q: UInt64 = Pid.durableFlag | 2 << 8

    private func spawned(_ pid: UInt64, name: String) -> LogRecord {
        .lifecycle(pid: pid, event: .spawned, detail: SpawnDetail(behavior: "Ledger", spec: [1, 2], name: name, parent: 0).encoded())
    }

    @Test func theScanFindsWhatEachProcessReceivedHandledAndMustReplay() async throws {
        try await withDataDirectory { dir in
            let journal = try Journal(environment: StoreEnvironment(path: dir))
            defer { journal.environment.close() }
            let timer = DurableTimer(id: 7, due: 99, period: 0, payload: [9])
            _ = try journal.append([
                spawned(p, name: "p"), spawned(q, name: "q"),                            // 1, 2
                .accepted(.init(to: p, key: "k", acceptedAt: 10, payload: [1])),          // 3
                .accepted(.init(to: p, acceptedAt: 11, payload: [2])),                    // 4
                .progress(pid: p, handled: [.init(seq: 3, digest: 42)]),                  // 5
                .lifecycle(pid: p, event: .timerSet, detail: timer.encoded()),             // 6
                .lifecycle(pid: q, event: .exited, detail: Array("normal".utf8)),          // 7
                .accepted(.init(to: q, acceptedAt: 12, payload: [3])),                    // 8: after its exit
            ])
            var findings = try RecoveryScan.readCheckpoints(journal)
            #expect(findings.processes.isEmpty && findings.scanFrom == 1)
            try RecoveryScan.scanLog(journal, into: &findings)
            #expect(findings.scanned == 8)
            let process = try #require(findings.processes[p])
            #expect(process.behavior == "Ledger" && process.name == "p" && process.spec == [1, 2])
            #expect(process.received.map(\.seq) == [3, 4] && process.done == [3])
            #expect(process.replay == [.init(seq: 3, digest: 42)])
            #expect(process.timers[7]?.due == 99)
            // Still waiting: what it received and did not handle.
            #expect(RecoveryScan.waiting(process) == [4])
            #expect(findings.processes[q]?.exited == true && findings.processes[q]?.received.isEmpty == true)
            #expect(findings.keys["k"] == .init(seq: 3, acceptedAt: 10))
            let (quarantined, unattributed) = RecoveryScan.quarantine(&findings)
            #expect(quarantined.isEmpty && unattributed.isEmpty)
        }
    }

    @Test func unreadableRecordsQuarantineTheirProcessOrAreReportedAsNobodys() async throws {
        try await withDataDirectory { dir in
            let journal = try Journal(environment: StoreEnvironment(path: dir))
            defer { journal.environment.close() }
            let stranger: UInt64 = Pid.durableFlag | 9 << 8
            _ = try journal.append([
                spawned(p, name: "p"),                                                    // 1
                .lifecycle(pid: p, event: .timerSet, detail: [0xff]),                     // 2: a timer record that does not decode
                .lifecycle(pid: stranger, event: .timerSet, detail: [0xff]),              // 3: names no process of this journal
                .accepted(.init(to: p, acceptedAt: 1, payload: [1])),                     // 4
            ])
            // Record 4 replaced by bytes that are no record (checksummed as stored: its bytes are what is wrong).
            try journal.replaceRecord(at: 4, with: [0x01, 0xff, 0xff])
            var findings = try RecoveryScan.readCheckpoints(journal)
            try RecoveryScan.scanLog(journal, into: &findings)
            let (quarantined, unattributed) = RecoveryScan.quarantine(&findings)
            #expect(quarantined.keys.map(\.serial) == [p], "\(quarantined)")
            // The first of its unreadable records is the reason given.
            #expect(quarantined[Pid(serial: p)]?.contains("log record 2") == true, "\(quarantined)")
            #expect(findings.processes[p]?.broken != nil)
            // Record 3 names a process the journal does not know; record 4's bytes name none.
            #expect(unattributed.count == 2, "\(unattributed)")
            #expect(unattributed.contains { $0.contains("which is no process of this journal") }, "\(unattributed)")
            #expect(unattributed.contains { $0.contains("4") && !$0.contains("which is no process") }, "\(unattributed)")
        }
    }

    @Test func whatStillWaitsIsEachSeqOnceInOrderMinusTheHandled() {
        let process = Recovered(behavior: "B", spec: [], name: nil, stateSeq: 0, state: nil)
        process.pending = [9, 3]
        process.receive(seq: 3, acceptedAt: 0, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        process.receive(seq: 12, acceptedAt: 0, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        process.receive(seq: 15, acceptedAt: 0, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        process.done = [12, 9]
        #expect(RecoveryScan.waiting(process) == [3, 15])
    }
}
