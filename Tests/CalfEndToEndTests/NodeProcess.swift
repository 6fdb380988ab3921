import CalfShell
import Foundation
import Synchronization

/// The `calf` binary built next to this test bundle.
func calfBinary() throws -> URL {
    let here = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    let candidate = here.deletingLastPathComponent().appendingPathComponent("calf")
    guard FileManager.default.isExecutableFile(atPath: candidate.path) else {
        throw NodeProcess.Failure(description: "no calf binary at \(candidate.path): build it with `swift build`")
    }
    return candidate
}

/// The package's root directory (for Supervisors/).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A child process spawned with `posix_spawn` and waited for with
/// `waitpid` (Foundation's `Process` is not used for the tests' children:
/// its monitor thread once blocked in `waitpid` on a node still running,
/// after which no exit was noticed and every `waitUntilExit` spun forever,
/// holding one of the test pool's two threads).
///
/// Thread ownership: `status` under its lock; the rest is set once.
final class ChildProcess: Sendable {
    /// The OS pid.
    let processIdentifier: Int32
    private let status = Locked<Int32?>(nil)

    /// Spawns `program` (found on PATH unless a path) with `arguments`, its
    /// stdin /dev/null, stdout and stderr on `output` and `errors`
    /// (descriptors of this process), every other descriptor closed in the child.
    init(_ program: String, _ arguments: [String], output: Int32, errors: Int32? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, errors ?? output, 2)
        _ = addCloseFrom(&actions, 3)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let code = posix_spawnp(&pid, program, &actions, nil, argv, environ)
        guard code == 0 else { throw NodeProcess.Failure(description: "cannot run \(program): \(String(cString: strerror(code)))") }
        processIdentifier = pid
    }

    /// Whether it has not ended yet (reaps it if it has).
    var isRunning: Bool {
        status.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            guard waitpid(processIdentifier, &raw, WNOHANG) == processIdentifier else { return true }
            status = raw
            return false
        }
    }

    /// Waits for its end (blocking the calling thread).
    func waitUntilExit() {
        guard status.withLock({ $0 }) == nil else { return }
        var raw: Int32 = 0
        while waitpid(processIdentifier, &raw, 0) < 0 {
            guard errno == EINTR else {
                // Reaped by `isRunning` on another thread meanwhile.
                return
            }
        }
        status.withLock { $0 = $0 ?? raw }
    }

    /// Its exit status once ended: the status it exited with, or 128 + the
    /// signal that killed it, as a shell reports it (-1 while it runs).
    var terminationStatus: Int32 {
        guard let raw = status.withLock({ $0 }) else { return -1 }
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (declared only under _GNU_SOURCE).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// Runs `arguments` (found on PATH) to its end with every descriptor above
/// 2 closed in the child; returns (status, stdout, stderr). Not Foundation's
/// `Process`: its wait lasts as long as any descendant holds a descriptor it
/// made, and tmux's server lives on.
func spawnClosingDescriptors(_ arguments: [String]) throws -> (Int32, String, String) {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("calf-spawn-\(UUID().uuidString.prefix(8))").path
    let outPath = base + ".out", errPath = base + ".err"
    let out = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    let err = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    defer {
        close(out)
        close(err)
        unlink(outPath)
        unlink(errPath)
    }
    let child = try ChildProcess(arguments[0], Array(arguments.dropFirst()), output: out, errors: err)
    child.waitUntilExit()
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return (child.terminationStatus, stdout, stderr)
}

/// A `calf node` run as a child process.
final class NodeProcess: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    let process: ChildProcess
    /// What the node printed (stdout and stderr), read as it comes by a
    /// thread of its own until the pipe's end.
    let output = Locked("")
    let dataDirectory: String

    /// Starts `calf node --data DIR [--durability D] TREE` and waits for its
    /// ready line (sleeping between looks, so no thread of the test pool is held).
    /// With `fileSizeLimit`, the node runs under `ulimit -f` (that many
    /// 512-byte blocks) with SIGXFSZ ignored: a write past it fails with
    /// EFBIG, as on a full disk, without root.
    /// `environment` adds variables to the node's (`CALF_LOG_LEVEL=debug`).
    init(data: String, tree: String, durability: String = "fsync", extra: [String] = [], fileSizeLimit: Int? = nil,
         environment: [String: String] = [:], readyWithin seconds: Double = 30) async throws {
        dataDirectory = data
        let arguments = ["node", "--data", data, "--durability", durability] + extra + [tree]
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw Failure(description: "pipe: \(String(cString: strerror(errno)))") }
        // (Swift's Glibc does not declare pipe2: close-on-exec right after, for the other threads' children.)
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        do {
            if let blocks = fileSizeLimit {
                process = try ChildProcess("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f \(blocks); exec \"$0\" \"$@\"", try calfBinary().path] + arguments, output: ends[1])
            } else if !environment.isEmpty {
                let variables = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                process = try ChildProcess("/usr/bin/env", variables + [try calfBinary().path] + arguments, output: ends[1])
            } else {
                process = try ChildProcess(try calfBinary().path, arguments, output: ends[1])
            }
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[1])
        let output = self.output
        let reader = ends[0]
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                output.withLock { $0 += String(decoding: buffer[..<count], as: UTF8.self) }
            }
            close(reader)
        }
        let deadline = Date().addingTimeInterval(seconds)
        while !output.withLock({ $0.contains("calf node ready socket=\(data)/node.sock") }) {
            guard process.isRunning else {
                try await Task.sleep(for: .milliseconds(50)) // what it printed last
                throw Failure(description: "calf node exited: \(output.withLock { $0 })")
            }
            guard Date() < deadline else {
                await killHard()
                throw Failure(description: "calf node not ready after \(seconds) s: \(output.withLock { $0 })")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A test that failed before it stopped its node: the node goes with it
    /// (seen: a node left serving for an hour after a failed flow test).
    deinit {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// `kill -9` and wait for the exit (on a thread of its own).
    func killHard() async {
        kill(process.processIdentifier, SIGKILL)
        let process = self.process
        await offPool { process.waitUntilExit() }
    }

    /// `signal` (SIGTERM by default) and wait (on a thread of its own); returns the exit status.
    func stop(_ signal: Int32 = SIGTERM) async -> Int32 {
        kill(process.processIdentifier, signal)
        let process = self.process
        await offPool { process.waitUntilExit() }
        return process.terminationStatus
    }

    /// `stop`, blocking the calling thread: only for a `defer` at the end of
    /// a test, which cannot wait otherwise.
    func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Runs blocking `work` (waiting for a child process, say) on a thread of
/// its own and waits for it without holding one of Swift's cooperative
/// threads: there are as many as cores, and a test that blocks them stalls
/// every other test in the process for as long (seen: polls of a supervisor
/// test answered 7 s late while end-to-end tests waited for their nodes).
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// `offPool` for work that cannot fail.
func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}

/// Runs `calf shell --data DIR -c COMMAND…`; returns (status, stdout, stderr).
func runShell(_ data: String, _ commands: [String]) async throws -> (Int32, String, String) {
    try await runCalf(["shell", "--data", data] + commands.flatMap { ["-c", $0] })
}

/// Runs `calf ARGUMENTS…` to its end; returns (status, stdout, stderr).
///
/// Its output goes to files, not pipes: a node another test starts at the
/// same moment may inherit a pipe's write end (Foundation's `Process` leaves
/// descriptors open in children), and a reader waiting for the pipe's end
/// would then wait as long as that node lives.
func runCalf(_ arguments: [String]) async throws -> (Int32, String, String) {
    try await runProgram(try calfBinary().path, arguments)
}

/// Runs `program ARGUMENTS…` to its end, its output in files (see
/// `runCalf`), waiting on a thread of its own (see `offPool`).
func runProgram(_ program: String, _ arguments: [String]) async throws -> (Int32, String, String) {
    try await offPool { try spawnClosingDescriptors([program] + arguments) }
}

/// Runs `body` with the data directory of a live node on the demo tree
/// without its flaky child (`Tests/Fixtures/steady-demo.yaml`: a steady
/// `spare` worker in its place), `process` level.
func withDemoNode(_ body: (String, NodeProcess) async throws -> Void) async throws {
    try await withTemporaryDataDirectory { dir in
        let data = dir + "/data"
        let node = try await NodeProcess(data: data, tree: packageRoot.appendingPathComponent("Tests/Fixtures/steady-demo.yaml").path, durability: "process")
        defer { _ = node.stop() }
        try await body(data, node)
    }
}

/// A fresh temporary directory, removed afterwards.
func withTemporaryDataDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calf-e2e-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir.path)
}

/// A value shared between threads under a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T { try mutex.withLock { try body(&$0) } }
}
