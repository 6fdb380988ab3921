import CalfStore
import CalfControl
import CalfRuntime
import CalfDurable

/// What a durable supervisor keeps in the journal so that its tree comes
/// back the same after a node restart: per static child its restarts, last
/// exit and whether it was terminated or deleted; its recent restart times
/// (a crash loop's history); and its dynamic children with their arguments.
///
/// Stored in the journal's `ledgers` database, written in the same group
/// commit as the rest of the supervisor scheduler's outcomes, one small
/// record per thing that changed, so that a restart costs the same however
/// long the history (a restart writes its child's record, its own time and
/// the header, never the whole window):
///
/// | key | value |
/// | --- | --- |
/// | `S path` | `Ledger`: the header (counters, `startWith` done, the window's floor) |
/// | `C path 0 id` | `Child`: a static child |
/// | `W path 0 n` | a restart's wall time (8 bytes), `n` the restart's number modulo the intensity: a ring |
/// | `D path 0 key` | `DynamicChild`: a dynamic child with its arguments |
///
/// Ledgers written before this layout kept the children and the window
/// inside the header; they are read as they are and rewritten in the new
/// layout at the supervisor's next start.
///
/// Thread ownership: the supervisor's scheduler thread, as its state.
package final class SupervisorLedger {
    package struct Child: Codable, Equatable {
        package var restarts = 0
        package var lastExit: String?
        /// Terminated by `terminateChild`: kept without a process.
        package var stopped = false
        /// Deleted by `deleteChild`: not started from the spec again.
        package var deleted = false
    }

    package struct Ledger: Codable {
        /// Only in ledgers of the old layout (read, never written now).
        package var children: [String: Child] = [:]
        /// Only in ledgers of the old layout: wall-clock restart times.
        package var window: [UInt64] = []
        package var totalRestarts = 0
        /// Dynamic children's keys are never given twice.
        package var nextKey: UInt64 = 1
        /// The `startWith` children were started once.
        package var seeded = false
        /// Restarts journaled so far (numbers the window's ring slots).
        package var restartNumber: UInt64?
        /// Restart times before this wall time no longer count (the
        /// supervisor gave up then).
        package var windowFloor: UInt64?
    }

    package struct DynamicChild: Codable {
        package var restarts = 0
        package var lastExit: String?
        /// The arguments of `startChild(with:)`, as the template's `ArgumentCoding` wrote them.
        package var arguments: [UInt8]
    }

    package let path: String
    package let durable: DurableCore
    package let scheduler: Scheduler
    /// The header as journaled.
    package var ledger = Ledger()
    /// The static children as journaled, by id.
    package var children: [String: Child] = [:]
    /// Restart times read at load (wall clock, oldest first, above the floor).
    private var loadedWindow: [UInt64] = []
    /// The ring's size: the supervisor's intensity (at least 1).
    private let slots: UInt64

    package init(path: String, durable: DurableCore, scheduler: Scheduler, intensity: Int) {
        self.path = path
        self.durable = durable
        self.scheduler = scheduler
        slots = UInt64(max(1, intensity))
    }

    private var ledgerKey: StoreKey { StoreKey(bytes: [UInt8(ascii: "S")] + Array(path.utf8)) }

    private func prefix(_ kind: Character) -> [UInt8] { [kind.asciiValue!] + Array(path.utf8) + [0] }

    private func dynamicKey(_ key: UInt64) -> StoreKey { StoreKey(bytes: prefix("D") + StoreKey(key).bytes) }

    private func childKey(_ id: String) -> StoreKey { StoreKey(bytes: prefix("C") + Array(id.utf8)) }

    private func windowKey(_ slot: UInt64) -> StoreKey { StoreKey(bytes: prefix("W") + StoreKey(slot).bytes) }

    // MARK: Loading

    /// Reads what the journal holds for this supervisor: its header, its
    /// static children, its restart times and its dynamic children in key
    /// order. A ledger of the old layout is rewritten in the new one.
    /// - Throws: `StoreError`, or `DurableError.coding` for a record that does not decode.
    package func load() throws -> [(key: UInt64, child: DynamicChild)] {
        let database = durable.journal.ledgers
        let ledgerKey = self.ledgerKey
        let journal = durable.journal
        let prefixes = (dynamic: prefix("D"), child: prefix("C"), window: prefix("W"))
        let (ledgerBytes, dynamicBytes, childBytes, times) = try journal.environment.read { txn in
            let ledgerBytes = try journal.checkedValue(txn, database, key: ledgerKey).map { Array($0) }
            var dynamic: [(UInt64, [UInt8])] = []
            var children: [(String, [UInt8])] = []
            var times: [UInt64] = []
            try txn.withCursor(database) { cursor in
                func each(_ prefix: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
                    var entry = try cursor.seek(atLeast: StoreKey(bytes: prefix))
                    while let current = entry, current.key.starts(with: prefix) {
                        let key = UnsafeRawBufferPointer(rebasing: current.key[prefix.count...])
                        try body(key, try journal.checkedValue(current.value, key: current.key, in: database))
                        entry = try cursor.next()
                    }
                }
                try each(prefixes.dynamic) { key, value in
                    if let number = StoreKey.uint64(in: key) { dynamic.append((number, Array(value))) }
                }
                try each(prefixes.child) { key, value in
                    if let id = String(validating: key, as: UTF8.self) { children.append((id, Array(value))) }
                }
                try each(prefixes.window) { _, value in
                    if let time = StoreKey.uint64(in: value) { times.append(time) }
                }
            }
            return (ledgerBytes, dynamic, children, times)
        }
        let loaded: [(key: UInt64, child: DynamicChild)]
        do {
            if let ledgerBytes { ledger = try BinaryDecoder().decode(Ledger.self, from: ledgerBytes) }
            for (id, bytes) in childBytes { children[id] = try BinaryDecoder().decode(Child.self, from: bytes) }
            loaded = try dynamicBytes.map { ($0.0, try BinaryDecoder().decode(DynamicChild.self, from: $0.1)) }
        } catch {
            throw DurableError.undecodable("the journal's record of supervisor '\(path)' does not decode: \(error)")
        }
        let floor = ledger.windowFloor ?? 0
        loadedWindow = (ledger.window + times).filter { $0 >= floor }.sorted().suffix(Int(slots))
        if !ledger.children.isEmpty || !ledger.window.isEmpty || ledger.restartNumber == nil {
            migrate()
        }
        return loaded
    }

    /// Rewrites a ledger of the old layout (children and window inside the
    /// header) in the new one.
    private func migrate() {
        for (id, child) in ledger.children where children[id] == nil { children[id] = child }
        let legacyTimes = ledger.window
        ledger.children = [:]
        ledger.window = []
        ledger.restartNumber = ledger.restartNumber ?? 0
        for (id, child) in children { put(childKey(id), child) }
        for time in legacyTimes { appendWindow(wall: time) }
        putHeader()
    }

    /// The saved restart times as monotonic times of this run, oldest first.
    package func restoredWindow() -> [UInt64] {
        let wallNow = WallTime.now.nanosecondsSinceEpoch
        let monotonicNow = monotonicNanoseconds()
        return loadedWindow.map { wall in
            let age = wallNow > wall ? wallNow - wall : 0
            return monotonicNow > age ? monotonicNow - age : 0
        }
    }

    // MARK: Writing (into the scheduler's next group commit)

    /// Journals one restart at wall time now: its ring slot and the header.
    package func journalRestart() {
        appendWindow(wall: WallTime.now.nanosecondsSinceEpoch)
        putHeader()
    }

    private func appendWindow(wall: UInt64) {
        let number = ledger.restartNumber ?? 0
        ledger.restartNumber = number &+ 1
        put(windowKey(number % slots), raw: StoreKey(wall).bytes)
    }

    /// The supervisor gave up: the restarts journaled so far no longer count.
    package func clearWindow() {
        ledger.windowFloor = WallTime.now.nanosecondsSinceEpoch &+ 1
        putHeader()
    }

    /// Writes the header (a few counters: constant size).
    package func putHeader() { put(ledgerKey, ledger) }

    /// Writes a static child's record.
    package func saveChild(_ id: String, _ child: Child) {
        children[id] = child
        put(childKey(id), child)
    }

    package func saveDynamic(_ record: ChildRecord) {
        guard let coding = record.spec.argumentCoding, let arguments = record.arguments else { return }
        let bytes: [UInt8]
        do {
            bytes = try coding.encode(arguments)
        } catch {
            reportProblem("supervisor '\(path)': the arguments of a dynamic child do not encode, it will not come back after a node restart: \(error)")
            return
        }
        put(dynamicKey(record.key), DynamicChild(restarts: record.restarts, lastExit: record.lastExit, arguments: bytes))
    }

    package func removeDynamic(_ record: ChildRecord) {
        let database = durable.journal.ledgers
        let key = dynamicKey(record.key)
        scheduler.durableBatch.entries.append(.write { txn in _ = try txn.delete(database, key: key) })
    }

    private func put(_ key: StoreKey, _ value: some Encodable) {
        let bytes: [UInt8]
        do {
            bytes = try BinaryEncoder().encode(value)
        } catch {
            // invariant: the ledger's types are plain structs of integers and strings.
            preconditionFailure("a supervisor ledger does not encode: \(error)")
        }
        put(key, raw: bytes)
    }

    private func put(_ key: StoreKey, raw bytes: [UInt8]) {
        let database = durable.journal.ledgers
        let journal = durable.journal
        scheduler.durableBatch.entries.append(.write { txn in try journal.putChecked(txn, database, key: key, value: bytes) })
    }
}
