import CLibUV
import Glibc

/// A child OS process started with `uv_spawn`, its stdin, stdout and stderr
/// connected to pipes, in a process group of its own (so a signal reaches
/// everything it started, such as the commands of a shell loop).
///
/// Thread ownership: make, signal and close it on its loop's thread only;
/// the callbacks run on that thread.
public final class LoopProcess: LoopHandle, @unchecked Sendable {
    /// The child's OS process id.
    public let pid: Int32
    /// Its stdin (written to).
    public let stdin: LoopPipe
    /// Its stdout (read from).
    public let stdout: LoopPipe
    /// Its stderr (read from).
    public let stderr: LoopPipe
    private var onExit: ((_ status: Int64, _ signal: Int32) -> Void)?
    /// Whether the child has exited (and been reaped by libuv).
    public private(set) var hasExited = false

    /// Starts `arguments[0]` (looked up in `PATH` when it has no slash) with
    /// `arguments`, `environment` (nil: this process's) and `workingDirectory`
    /// (nil: this process's). `onExit` gets the exit status and the signal
    /// that ended it (0 if none).
    /// - Throws: `LoopError` when it cannot start (for example `ENOENT`).
    public init(
        loop: EventLoop, arguments: [String], environment: [String]? = nil, workingDirectory: String? = nil,
        onExit: @escaping (_ status: Int64, _ signal: Int32) -> Void
    ) throws(LoopError) {
        // invariant: libuv handles must be made on their loop's thread.
        precondition(loop.inEventLoop, "LoopProcess made off its loop's thread")
        guard let file = arguments.first, !file.isEmpty else { throw LoopError(code: UV_EINVAL.rawValue, operation: "uv_spawn with no command") }
        Self.closeOnExecEverything()
        var pipes: [LoopPipe] = []
        do throws(LoopError) {
            for _ in 0..<3 { pipes.append(try LoopPipe(loop: loop)) }
        } catch {
            for pipe in pipes { pipe.close() }
            throw error
        }
        let process = UnsafeMutablePointer<uv_process_t>.allocate(capacity: 1)
        process.initialize(to: uv_process_t())
        let argv = CStringArray(arguments)
        let envp = environment.map(CStringArray.init)
        let stdio = UnsafeMutablePointer<uv_stdio_container_t>.allocate(capacity: 3)
        defer {
            argv.free()
            envp?.free()
            stdio.deallocate()
        }
        let flags: [UInt32] = [
            UV_CREATE_PIPE.rawValue | UV_READABLE_PIPE.rawValue,
            UV_CREATE_PIPE.rawValue | UV_WRITABLE_PIPE.rawValue,
            UV_CREATE_PIPE.rawValue | UV_WRITABLE_PIPE.rawValue,
        ]
        for index in 0..<3 {
            stdio[index] = uv_stdio_container_t()
            stdio[index].flags = uv_stdio_flags(flags[index])
            stdio[index].data.stream = pipes[index].stream
        }
        var options = uv_process_options_t()
        options.exit_cb = { handle, status, signal in
            guard let handle, let data = handle.pointee.data else { return }
            guard let process = Unmanaged<LoopHandle>.fromOpaque(data).takeUnretainedValue() as? LoopProcess else { return }
            process.hasExited = true
            let callback = process.onExit
            process.onExit = nil
            callback?(status, signal)
        }
        options.file = argv.pointers[0].map { UnsafePointer($0) }
        options.args = argv.pointers
        options.env = envp?.pointers
        let code: Int32 = workingDirectory.withOptionalCString { cwd in
            options.cwd = cwd
            options.flags = UV_PROCESS_DETACHED.rawValue
            options.stdio_count = 3
            options.stdio = stdio
            return uv_spawn(loop.uvLoop, process, &options)
        }
        if code < 0 {
            // On Unix uv_spawn initializes the handle first: it must be closed like any other.
            process.pointee.data = nil
            uv_close(UnsafeMutableRawPointer(process).assumingMemoryBound(to: uv_handle_t.self)) { handle in handle?.deallocate() }
            for pipe in pipes { pipe.close() }
            throw LoopError(code: code, operation: "uv_spawn \(file)")
        }
        pid = process.pointee.pid
        stdin = pipes[0]
        stdout = pipes[1]
        stderr = pipes[2]
        self.onExit = onExit
        super.init(loop: loop, raw: UnsafeMutableRawPointer(process).assumingMemoryBound(to: uv_handle_t.self))
    }

    /// Marks every descriptor above stderr close-on-exec, so that a child
    /// inherits none of this process's files and sockets (its journal, its
    /// control socket, or a descriptor its own parent left open, which would
    /// keep that parent from seeing this process end). libuv dups the
    /// child's stdio onto 0–2, which clears the flag there.
    static func closeOnExecEverything() {
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = DirectoryEntry.name(entry)
            guard let descriptor = Int32(name), descriptor > 2, descriptor != own else { continue }
            let flags = fcntl(descriptor, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { _ = fcntl(descriptor, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Sends `signal` to the child's whole process group; false if it is gone.
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        guard !hasExited, pid > 0 else { return false }
        return Glibc.kill(-pid, signal) == 0
    }

    /// Closes the process handle and its pipes (the child is not signalled).
    public override func close() {
        onExit = nil
        stdin.close()
        stdout.close()
        stderr.close()
        super.close()
    }
}

/// A NULL-terminated array of C strings, freed explicitly.
private struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[strings.count] = nil
    }

    func free() {
        for index in 0..<count { Glibc.free(pointers[index]) }
        pointers.deallocate()
    }
}

extension Optional where Wrapped == String {
    fileprivate func withOptionalCString<T>(_ body: (UnsafePointer<CChar>?) -> T) -> T {
        switch self {
        case .some(let string): string.withCString { body($0) }
        case .none: body(nil)
        }
    }
}
