import CalfLoop
import Glibc

/// What one run executes: the argv, where, with what, for how long.
public struct RunCommand: Sendable, Equatable {
    /// The argv (`arguments[0]` is looked up in `PATH` when it has no slash).
    public var arguments: [String]
    /// The working directory.
    public var workingDirectory: String
    /// The whole environment, as `NAME=value`.
    public var environment: [String]
    /// Its standard input stays a pipe (else it reads end-of-file at once, as from /dev/null).
    public var stdinPipe: Bool
    /// Its longest run, in milliseconds (nil: none).
    public var timeout: Int?
    /// Between SIGTERM to its process group and SIGKILL, in milliseconds.
    public var killAfter: Int

    /// A command.
    public init(arguments: [String], workingDirectory: String, environment: [String], stdinPipe: Bool = false, timeout: Int? = nil, killAfter: Int = 5000) {
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.stdinPipe = stdinPipe
        self.timeout = timeout
        self.killAfter = killAfter
    }
}

/// One run of a command on a loop: started in a process group of its
/// own, its output appended to a log file and its last lines kept, ended
/// by its exit, a timeout or `stop`. It reports once the whole process
/// group is gone, not only its leader: members the leader left behind get
/// SIGTERM, then SIGKILL after `killAfter` (a job's stray daemon must not
/// outlive the run it belongs to, nor hold its output pipe open).
///
/// Thread ownership: its loop's thread only (made there, driven by the
/// loop's callbacks).
final class CommandRun {
    /// Lines of output kept for the run's record.
    static let tailLines = 40
    /// The longest line kept in the tail, in bytes.
    static let tailLineBytes = 512

    let loop: EventLoop
    let line: RunCommand
    private let logDescriptor: Int32
    private var process: LoopProcess?
    private var timers: [LoopTimer] = []
    private var poll: LoopTimer?
    private var tail: [String] = []
    private var partial: [[UInt8]] = [[], []]
    private var openPipes = 2
    private var exit: (status: Int64, signal: Int32)?
    private var stopping: RunStatus?
    private var stopNote: String?
    private var reported = false
    private let startedAt: Int64
    private let onEnd: (RunOutcome) -> Void
    /// The process group (the leader's pid), once started.
    private(set) var group: Int32 = 0
    /// Called with each line of its output as it comes (a daemon's `ready: { line: … }`).
    var onLine: ((String) -> Void)?
    /// Whether it has ended (reported its outcome).
    var hasEnded: Bool { reported }

    /// Starts `line` on `loop` (its thread), appending its output to the
    /// file at `logPath`; `onEnd` gets the outcome once, on the loop.
    init(loop: EventLoop, line: RunCommand, logPath: String, onEnd: @escaping (RunOutcome) -> Void) {
        self.loop = loop
        self.line = line
        self.onEnd = onEnd
        startedAt = WallClock.milliseconds()
        logDescriptor = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        do throws(LoopError) {
            let process = try LoopProcess(loop: loop, arguments: line.arguments, environment: line.environment,
                                          workingDirectory: line.workingDirectory) { [weak self] status, signal in
                self?.exited(status: status, signal: signal)
            }
            self.process = process
            group = process.pid
            if !line.stdinPipe { process.stdin.close() }
            try process.stdout.startReading { [weak self] bytes in self?.output(bytes, from: 0) }
            try process.stderr.startReading { [weak self] bytes in self?.output(bytes, from: 1) }
            if let timeout = line.timeout {
                after(milliseconds: timeout) { [weak self] in self?.stop(.timedOut, note: "its timeout of \(timeout) ms passed") }
            }
        } catch {
            let reason = error.code == -ENOENT ? "'\(line.arguments.first ?? "")' was not found (PATH searched)" : "\(error)"
            report(RunOutcome(status: .couldNotStart, startedAt: startedAt, endedAt: WallClock.milliseconds(), note: "it could not start: \(reason)"))
        }
    }

    /// Sends `signal` to its process (the group's leader), if it still runs.
    /// - Returns: whether it was sent.
    func send(_ signal: Int32) -> Bool {
        guard group > 0, exit == nil, !reported else { return false }
        return Glibc.kill(group, signal) == 0
    }

    /// Stops the run: SIGTERM to its process group, SIGKILL after `killAfter`.
    func stop(_ status: RunStatus, note: String) {
        guard stopping == nil, !reported else { return }
        stopping = status
        stopNote = note
        signalGroup(SIGTERM)
        after(milliseconds: line.killAfter) { [weak self] in self?.signalGroup(SIGKILL) }
    }

    private func signalGroup(_ signal: Int32) {
        guard group > 0 else { return }
        _ = Glibc.kill(-group, signal)
    }

    private func after(milliseconds: Int, _ body: @escaping () -> Void) {
        guard let timer = try? LoopTimer(loop: loop) else { return }
        timers.append(timer)
        try? timer.start(milliseconds: UInt64(max(0, milliseconds)), body)
    }

    private func output(_ bytes: [UInt8]?, from stream: Int) {
        guard let bytes else {
            openPipes -= 1
            if !partial[stream].isEmpty { keep(partial[stream]); partial[stream] = [] }
            finishIfDone()
            return
        }
        if logDescriptor >= 0 { bytes.withUnsafeBytes { _ = write(logDescriptor, $0.baseAddress, $0.count) } }
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 10 {
            keep(partial[stream] + bytes[start..<index])
            partial[stream] = []
            start = index + 1
        }
        partial[stream].append(contentsOf: bytes[start...])
        if partial[stream].count > Self.tailLineBytes * 4 { keep(partial[stream]); partial[stream] = [] }
    }

    private func keep(_ line: [UInt8]) {
        let text = String(decoding: line.prefix(Self.tailLineBytes), as: UTF8.self)
        onLine?(text)
        tail.append(text)
        if tail.count > Self.tailLines { tail.removeFirst(tail.count - Self.tailLines) }
    }

    private func exited(status: Int64, signal: Int32) {
        exit = (status, signal)
        // What the leader left behind goes too, then the run is over once the group is empty.
        if groupHasMembers() {
            signalGroup(SIGTERM)
            after(milliseconds: line.killAfter) { [weak self] in self?.signalGroup(SIGKILL) }
        }
        waitForEmptyGroup()
    }

    /// Checks every 20 ms (one repeating timer) until no member of the group is left.
    private func waitForEmptyGroup() {
        guard groupHasMembers() else {
            poll?.close()
            poll = nil
            // Its pipes close with the last member; a moment more for what is in them.
            after(milliseconds: 200) { [weak self] in self?.openPipes = 0; self?.finishIfDone() }
            finishIfDone()
            return
        }
        guard poll == nil, let timer = try? LoopTimer(loop: loop) else { return }
        poll = timer
        try? timer.start(milliseconds: 20, repeatMilliseconds: 20) { [weak self] in self?.waitForEmptyGroup() }
    }

    private func groupHasMembers() -> Bool {
        guard group > 0 else { return false }
        return Glibc.kill(-group, 0) == 0 || errno == EPERM
    }

    private func finishIfDone() {
        guard let exit, openPipes <= 0, !groupHasMembers() else { return }
        let status: RunStatus
        if let stopping {
            status = stopping
        } else {
            status = exit.status == 0 && exit.signal == 0 ? .succeeded : .failed
        }
        report(RunOutcome(status: status, exitCode: exit.signal == 0 ? Int(exit.status) : nil, signal: exit.signal == 0 ? nil : Int(exit.signal),
                          startedAt: startedAt, endedAt: WallClock.milliseconds(), tail: tail, note: stopNote))
    }

    private func report(_ outcome: RunOutcome) {
        guard !reported else { return }
        reported = true
        for timer in timers { timer.close() }
        timers = []
        poll?.close()
        poll = nil
        onLine = nil
        process?.close()
        process = nil
        if logDescriptor >= 0 { close(logDescriptor) }
        onEnd(outcome)
    }
}

/// The wall clock in milliseconds since 1970.
enum WallClock {
    static func milliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
