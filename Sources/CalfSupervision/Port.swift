import CalfLoop
import Glibc
import CalfControl
import CalfRuntime
import CalfDurable

/// What a port's OS process printed, as its owner receives it.
public enum PortOutput: Sendable, Codable, Equatable {
    /// One line of its stdout (without the newline), with the port's pid.
    case line(port: Pid, text: String)
    /// One length-prefixed frame of its stdout.
    case frame(port: Pid, bytes: [UInt8])
}

/// How a port's stdout and stdin are cut into messages.
public enum PortFraming: String, Sendable, Codable {
    /// Newline-terminated lines (a line longer than 1 MiB arrives in pieces).
    case lines
    /// Each message is a 4-byte big-endian length, then that many bytes.
    case lengthPrefixed
}

/// Where a port's output goes.
public struct PortOwner: Sendable {
    package let deliver: @Sendable (PortOutput, inout Context<PortMessage>) -> Void

    /// The process registered as `name`, taking `PortOutput` messages (looked
    /// up for every message, so it may restart in between).
    public static func named(_ name: String) -> PortOwner {
        PortOwner { output, context in context.send(output, to: name) }
    }

    /// The process at `address`, given `transform(output)`.
    public static func address<M: Sendable>(_ address: Address<M>, _ transform: @escaping @Sendable (PortOutput) -> M) -> PortOwner {
        PortOwner { output, context in context.send(transform(output), to: address) }
    }
}

/// An external command run as a process of the node (Erlang's port).
public struct PortSpec: Sendable {
    /// The command and its arguments (`command[0]` is looked up in `PATH`).
    public var command: [String]
    /// Its working directory (nil: the node's).
    public var workingDirectory: String?
    /// Variables added to (or replacing those of) the node's environment.
    public var environment: [String: String]
    /// How its stdout and stdin are cut.
    public var framing: PortFraming
    /// Where its output goes (nil: dropped).
    public var owner: PortOwner?
    /// After SIGTERM, how long it has before SIGKILL.
    public var killAfter: Duration

    /// Makes a spec.
    public init(
        command: [String], workingDirectory: String? = nil, environment: [String: String] = [:],
        framing: PortFraming = .lines, owner: PortOwner? = nil, killAfter: Duration = .seconds(5)
    ) {
        self.command = command
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.framing = framing
        self.owner = owner
        self.killAfter = killAfter
    }
}

/// Why a port ended.
public enum PortError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The command could not be started.
    case cannotStart(command: String, reason: String)
    /// The command exited with a non-zero status.
    case exited(command: String, status: Int64)
    /// The command was ended by a signal.
    case signalled(command: String, signal: Int32)

    public var description: String {
        switch self {
        case .cannotStart(let command, let reason): "port command '\(command)' cannot start: \(reason)"
        case .exited(let command, let status): "port command '\(command)' exited with status \(status)"
        case .signalled(let command, let signal): "port command '\(command)' was ended by signal \(signal)"
        }
    }
}

/// What a port takes: data for its stdin (and its own events).
public struct PortMessage: Sendable {
    package enum Kind: Sendable {
        case write([UInt8])
        case stdout([UInt8])
        case stderr([UInt8])
        case exited(status: Int64, signal: Int32)
        case cannotStart(String)
        case killNow
        /// Its stdout did not reach its end soon after it exited: finish anyway.
        case finish
    }

    package let kind: Kind

    /// Writes `bytes` to its stdin (as one frame with `lengthPrefixed`).
    public static func write(_ bytes: [UInt8]) -> PortMessage { PortMessage(kind: .write(bytes)) }
    /// Writes `text` and a newline to its stdin.
    public static func writeLine(_ text: String) -> PortMessage { PortMessage(kind: .write(Array((text + "\n").utf8))) }
}

/// The process running a port: it starts the command with libuv on its
/// scheduler's loop, passes output to the owner, logs stderr lines, and
/// exits with the command's status (`normal` for 0). Asked to stop, it sends
/// SIGTERM to the command's process group, then SIGKILL after `killAfter`;
/// killed, it sends SIGKILL at once. No OS process outlives its port.
public struct Port: Behavior {
    public typealias Message = PortMessage
    package let spec: PortSpec

    /// A port running `spec`.
    public init(_ spec: PortSpec) { self.spec = spec }

    /// The port's OS process and buffers (opaque).
    public final class State {
        package var process: LoopProcess?
        package var stdoutBuffer: [UInt8] = []
        package var stderrBuffer: [UInt8] = []
        package var stopping: ExitReason?
        package var killTimer: TimerRef?
        package var stdoutEnded = false
        package var exit: (status: Int64, signal: Int32)?
    }

    public func initialState() -> State { State() }

    public func started(state: inout State, context: inout Context<PortMessage>) throws {
        context.trapExit = true
        // Its OS process and pipes are handles of this scheduler's loop.
        context.cell.pinned = true
        let me = context.address
        let scheduler = context.cell.scheduler
        var environment = ProcessEnvironment.current
        for (key, value) in spec.environment { environment[key] = value }
        do {
            let process = try LoopProcess(
                loop: scheduler.loop, arguments: spec.command,
                environment: environment.map { "\($0.key)=\($0.value)" }.sorted(),
                workingDirectory: spec.workingDirectory
            ) { status, signal in
                me.cell.deliver(.message(PortMessage(kind: .exited(status: status, signal: signal))), from: scheduler)
            }
            try process.stdout.startReading { chunk in
                me.cell.deliver(.message(PortMessage(kind: .stdout(chunk ?? []))), from: scheduler)
            }
            try process.stderr.startReading { chunk in
                if let chunk { me.cell.deliver(.message(PortMessage(kind: .stderr(chunk))), from: scheduler) }
            }
            state.process = process
        } catch {
            // A crash after the start, for the supervisor to handle like any other.
            context.send(PortMessage(kind: .cannotStart(error.description)), to: me)
            return
        }
        let process = state.process
        // Recorded in the data directory: a node restarted after a kill -9 stops it.
        let data = scheduler.node.durable?.options.path
        if let data, let pid = process?.pid { PortRecords.record(pid, data: data) }
        context.cell.relationsForUpdate.exitHook = { _, _ in
            // However the port ends, its OS process does too.
            process?.signalGroup(SIGKILL)
            if let data, let pid = process?.pid { PortRecords.forget(pid, data: data) }
            process?.close()
        }
    }

    public func handle(_ message: PortMessage, state: inout State, context: inout Context<PortMessage>) throws {
        let command = spec.command.joined(separator: " ")
        switch message.kind {
        case .write(var bytes):
            if spec.framing == .lengthPrefixed {
                let count = UInt32(truncatingIfNeeded: bytes.count)
                bytes.insert(contentsOf: [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)], at: 0)
            }
            try state.process?.stdin.write(bytes)
        case .stdout(let chunk):
            state.stdoutBuffer.append(contentsOf: chunk)
            for output in cut(&state.stdoutBuffer, port: context.pid, atEnd: chunk.isEmpty) {
                spec.owner?.deliver(output, &context)
            }
            if chunk.isEmpty {
                state.stdoutEnded = true
                if state.exit != nil { try finish(state, &context) }
            }
        case .stderr(let chunk):
            state.stderrBuffer.append(contentsOf: chunk)
            while let newline = state.stderrBuffer.firstIndex(of: 10) {
                let line = String(decoding: state.stderrBuffer[..<newline], as: UTF8.self)
                state.stderrBuffer.removeSubrange(...newline)
                reportProblem("port \(context.pid) (\(command)): \(line)", level: .info, ["pid": "\(context.pid)", "stream": "stderr"])
            }
        case .exited(let status, let signal):
            if let timer = state.killTimer { context.cancelTimer(timer) }
            state.exit = (status, signal)
            // What it printed last may still be in the pipe: wait for its end, briefly.
            if state.stdoutEnded {
                try finish(state, &context)
            } else {
                context.sendAfter(PortMessage(kind: .finish), after: .milliseconds(200))
            }
        case .finish:
            if state.exit != nil { try finish(state, &context) }
        case .cannotStart(let reason):
            throw PortError.cannotStart(command: command, reason: reason)
        case .killNow:
            state.process?.signalGroup(SIGKILL)
        }
    }

    /// Ends the port with the command's exit: `normal` for status 0, the
    /// reason it was asked to stop with, or a `PortError`.
    package func finish(_ state: State, _ context: inout Context<PortMessage>) throws {
        guard let (status, signal) = state.exit else { return }
        state.exit = nil
        state.process?.close()
        state.process = nil
        let command = spec.command.joined(separator: " ")
        if let reason = state.stopping {
            context.stop(reason)
        } else if signal != 0 {
            throw PortError.signalled(command: command, signal: signal)
        } else if status != 0 {
            throw PortError.exited(command: command, status: status)
        } else {
            context.stop(.normal)
        }
    }

    /// An exit signal (its supervisor stopping it, or a linked process
    /// ending): SIGTERM to the command, SIGKILL after `killAfter`; it exits
    /// once the command has.
    public func handle(signal: Signal, state: inout State, context: inout Context<PortMessage>) throws {
        guard case .exit(_, let reason) = signal, !reason.isNormal else { return }
        guard state.stopping == nil else { return }
        state.stopping = reason
        guard let process = state.process, process.signalGroup(SIGTERM) else {
            context.stop(reason)
            return
        }
        state.killTimer = context.sendAfter(PortMessage(kind: .killNow), after: spec.killAfter)
    }

    /// Cuts complete lines or frames off `buffer`.
    package func cut(_ buffer: inout [UInt8], port: Pid, atEnd: Bool) -> [PortOutput] {
        var outputs: [PortOutput] = []
        switch spec.framing {
        case .lines:
            var start = 0
            while let newline = buffer[start...].firstIndex(of: 10) {
                outputs.append(.line(port: port, text: String(decoding: buffer[start..<newline], as: UTF8.self)))
                start = newline + 1
            }
            buffer.removeSubrange(..<start)
            if buffer.count >= 1 << 20 || (atEnd && !buffer.isEmpty) {
                outputs.append(.line(port: port, text: String(decoding: buffer, as: UTF8.self)))
                buffer.removeAll()
            }
        case .lengthPrefixed:
            while buffer.count >= 4 {
                let length = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
                guard buffer.count >= 4 + length else { break }
                outputs.append(.frame(port: port, bytes: Array(buffer[4..<(4 + length)])))
                buffer.removeSubrange(..<(4 + length))
            }
        }
        return outputs
    }
}

/// This OS process's environment.
package enum ProcessEnvironment {
    package static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

extension ChildSpec {
    /// A port child: the command runs as long as the port process does.
    /// Its shutdown waits `killAfter` plus a margin, so the port can escalate
    /// to SIGKILL itself.
    public static func port(_ id: String, _ spec: PortSpec, restart: ChildRestart = .permanent, backoff: Backoff? = nil) -> ChildSpec {
        ChildSpec(
            id: id, restart: restart, shutdown: .timeout(spec.killAfter + .seconds(1)), backoff: backoff,
            behavior: "Port(\(spec.command.first ?? ""))"
        ) { context in
            .started(ChildProcess(try context.spawn(Port(spec))))
        }
    }
}
