import CalfStore
import CalfControl
import CalfRuntime

/// A durable process's snapshot as the `checkpoints` database keeps it
/// (after the 8-byte seq of the log position its state reflects): enough to
/// rebuild the process without the log before that position.
package struct CheckpointBody: Sendable {
    package var behavior: String
    package var spec: [UInt8]
    package var name: String?
    package var state: [UInt8]
    package var incarnation: UInt64
    package var handled: UInt64
    /// Seqs of journaled mail still waiting, in mailbox order.
    package var pending: [UInt64]
    package var timers: [DurableTimer]
    /// Restarts in place after crashes (not node starts), over its life.
    package var restarts: UInt64 = 0
    /// Its durable effects under way.
    package var effects: [EffectRecord] = []
    /// Written as it left RAM (passivation): a node start leaves it out of
    /// RAM unless the log holds something for it after this snapshot.
    package var passivated = false

    /// Version 2 adds `restarts`, 3 `effects`, 4 `passivated`; older snapshots read with none.
    package static let version: UInt64 = 4

    package func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.varint(Self.version)
        // First, so that a node start can skip a passivated snapshot's contents.
        writer.varint(passivated ? 1 : 0)
        writer.string(behavior)
        writer.field(spec)
        writer.optionalString(name)
        writer.field(state)
        writer.varint(incarnation)
        writer.varint(handled)
        writer.varint(UInt64(pending.count))
        for seq in pending { writer.varint(seq) }
        writer.varint(UInt64(timers.count))
        for timer in timers {
            writer.varint(timer.id)
            writer.varint(timer.due)
            writer.varint(timer.period)
            writer.field(timer.payload)
        }
        writer.varint(restarts)
        writer.varint(UInt64(effects.count))
        for effect in effects { effect.write(to: &writer) }
        return writer.bytes
    }

    package init(behavior: String, spec: [UInt8], name: String?, state: [UInt8], incarnation: UInt64, handled: UInt64, pending: [UInt64], timers: [DurableTimer], restarts: UInt64, effects: [EffectRecord] = [], passivated: Bool = false) {
        self.passivated = passivated
        self.restarts = restarts
        self.effects = effects
        self.behavior = behavior
        self.spec = spec
        self.name = name
        self.state = state
        self.incarnation = incarnation
        self.handled = handled
        self.pending = pending
        self.timers = timers
    }

    /// Reads a snapshot; with `lean`, a passivated one's behavior spec and
    /// state are skipped (left empty: a node start reads them again if it
    /// brings the process back).
    package init(decoding bytes: UnsafeRawBufferPointer, pid: UInt64, lean: Bool = false) throws(LogRecordError) {
        var reader = ByteReader(bytes, what: "checkpoint", ofProcess: pid)
        let version = try reader.varint("version")
        guard (1...Self.version).contains(version) else {
            throw LogRecordError(seq: nil, reason: "checkpoint of process \(pid) has format \(version), this build reads 1 to \(Self.version)")
        }
        passivated = version >= 4 ? try reader.varint("passivated flag") != 0 : false
        let skip = lean && passivated
        behavior = try reader.string("behavior")
        if skip { try reader.skipField("behavior spec") }
        spec = skip ? [] : try reader.field("behavior spec")
        name = try reader.optionalString("name")
        if skip { try reader.skipField("state") }
        state = skip ? [] : try reader.field("state")
        incarnation = try reader.varint("incarnation")
        handled = try reader.varint("handled count")
        let pendingCount = try reader.varint("pending count")
        pending = []
        for _ in 0..<min(pendingCount, 1 << 32) { pending.append(try reader.varint("pending seq")) }
        let timerCount = try reader.varint("timer count")
        timers = []
        for _ in 0..<min(timerCount, 1 << 32) {
            let id = try reader.varint("timer id")
            let due = try reader.varint("timer due")
            let period = try reader.varint("timer period")
            let payload = try reader.field("timer payload")
            timers.append(DurableTimer(id: id, due: due, period: period, payload: payload))
        }
        restarts = version >= 2 ? try reader.varint("restarts") : 0
        effects = []
        if version >= 3 {
            let effectCount = try reader.varint("effect count")
            for _ in 0..<min(effectCount, 1 << 32) { effects.append(try EffectRecord(reading: &reader)) }
        }
    }
}

/// A spawned record's detail: the behavior (name and encoded value), the
/// registered name, and the parent (0 for none).
package struct SpawnDetail: Sendable {
    package var behavior: String
    package var spec: [UInt8]
    package var name: String?
    package var parent: UInt64

    package func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.string(behavior)
        writer.field(spec)
        writer.optionalString(name)
        writer.varint(parent)
        return writer.bytes
    }

    package init(behavior: String, spec: [UInt8], name: String?, parent: UInt64) {
        self.behavior = behavior
        self.spec = spec
        self.name = name
        self.parent = parent
    }

    package init(decoding bytes: [UInt8], pid: UInt64) throws(LogRecordError) {
        var result: Result<SpawnDetail, LogRecordError>!
        bytes.withUnsafeBytes { buffer in
            do throws(LogRecordError) {
                var reader = ByteReader(buffer, what: "spawn record", ofProcess: pid)
                result = .success(SpawnDetail(
                    behavior: try reader.string("behavior"), spec: try reader.field("behavior spec"),
                    name: try reader.optionalString("name"), parent: try reader.varint("parent")))
            } catch {
                result = .failure(error)
            }
        }
        self = try result.get()
    }
}
