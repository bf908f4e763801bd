import Foundation

/// The environment every program the platform starts (instances, init programs) begins with: a few
/// variables inherited from `aios up`, and the Python virtualenv with the SDKs first on `PATH`.
public enum LaunchEnvironment {
    /// What programs inherit from `aios up`'s environment.
    public static let inheritedVariables: Set<String> = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]

    public static func base(pythonVirtualEnv: String?) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { inheritedVariables.contains($0.key) }
        if let venv = pythonVirtualEnv {
            environment["PATH"] = "\(venv)/bin:" + (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
            environment["VIRTUAL_ENV"] = venv
        }
        environment["PYTHONUNBUFFERED"] = "1"
        return environment
    }
}
