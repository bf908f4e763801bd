import Foundation

/// Waiting with a limit on something that may not notice cancellation (a connection attempt, a process
/// stuck in the kernel): the caller goes on after the limit. The work is cancelled then, and left to finish
/// on its own if it does not notice.
public enum Deadline {
    /// The value of `body`, or `nil` when it takes longer than `seconds`. When the limit comes first, `body`
    /// is cancelled; when `body` comes first, the timer is.
    public static func run<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async -> T?) async -> T? {
        await first([
            { await body() },
            {
                try? await Task.sleep(for: .seconds(seconds))
                return nil
            },
        ])
    }

    /// The result of whichever of `bodies` finishes first; the others are cancelled then. A caller that is
    /// cancelled cancels them all and gets whichever result comes first after that.
    ///
    /// The bodies run as unstructured tasks, not in a task group: a group would wait for a loser that does
    /// not notice cancellation, and the caller must go on as soon as one body has finished.
    public static func first<T: Sendable>(_ bodies: [@Sendable () async -> T]) async -> T {
        precondition(!bodies.isEmpty, "Deadline.first needs at least one body")
        let race = Race<T>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                race.start(continuation, bodies)
            }
        } onCancel: {
            race.cancelAll()
        }
    }

    /// The bodies' tasks and the waiting caller: the first result resumes the caller and cancels the rest.
    private final class Race<T: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var continuation: CheckedContinuation<T, Never>?
        private var tasks: [Task<Void, Never>] = []
        /// A result came, or the caller was cancelled: tasks started from now on are cancelled at once.
        private var cancelled = false

        func start(_ continuation: CheckedContinuation<T, Never>, _ bodies: [@Sendable () async -> T]) {
            lock.withLock { self.continuation = continuation }
            for body in bodies {
                let task = Task { self.finish(with: await body()) }
                let cancelNow = lock.withLock {
                    if !cancelled { tasks.append(task) }
                    return cancelled
                }
                if cancelNow { task.cancel() }
            }
        }

        func finish(with value: T) {
            let (continuation, losers) = lock.withLock {
                defer {
                    self.continuation = nil
                    self.tasks = []
                    self.cancelled = true
                }
                return (self.continuation, self.tasks)
            }
            guard let continuation else { return }
            for task in losers { task.cancel() }
            continuation.resume(returning: value)
        }

        func cancelAll() {
            let tasks = lock.withLock {
                cancelled = true
                return self.tasks
            }
            for task in tasks { task.cancel() }
        }
    }
}
