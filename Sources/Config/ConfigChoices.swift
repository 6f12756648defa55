// The settings that pick one of a few behaviours, spelled in mesher.yaml as their raw values. Case order is the
// order the error message lists them in. (The capture mode, shared with `mesher init`, is `MesherBase.CaptureMode`.)

/// `log.level`: the levels of swift-log, by the same names.
public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

/// `registry.kind`: a watched directory of YAML files, or etcd.
public enum RegistryKind: String, Sendable, CaseIterable {
    case file, etcd
}

/// `service.healthCheck.kind`: a TCP connect, an HTTP GET, or none (the instance is always up).
public enum HealthCheckKind: String, Sendable, CaseIterable {
    case tcp, http, none
}
