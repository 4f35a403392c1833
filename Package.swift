// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "pgconnect",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "PGConnect", targets: ["PGConnect"]),
        .library(name: "PGDiagnostics", targets: ["PGDiagnostics"]),
        .executable(name: "pgconnect-check", targets: ["pgconnect-check"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .yum(["libpq-devel"]), .brew(["libpq"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .yum(["openssl-devel"]), .brew(["openssl@3"])]
        ),
        .target(
            name: "PGConnect",
            dependencies: [
                "CLibPQ",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "PGDiagnostics",
            dependencies: [
                "PGConnect",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "pgconnect-check",
            dependencies: [
                "PGDiagnostics",
                "PGConnect",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "PGTestSupport", dependencies: ["PGConnect"], path: "Tests/PGTestSupport"),
        .testTarget(name: "PGConnectTests", dependencies: ["PGConnect", "CLibPQ", "PGTestSupport"]),
        .testTarget(name: "PGDiagnosticsTests", dependencies: ["PGDiagnostics", "PGTestSupport",
                                                            .product(name: "Logging", package: "swift-log")],
                    exclude: ["Corpus"]),  // read by path (RealReportsCorpusTests)
        .testTarget(name: "pgconnect-checkTests", dependencies: ["pgconnect-check", "PGTestSupport"], exclude: ["Expected"]),
        // Benchmarks (scripts/bench.sh): raw libpq in C vs PGConnect, same measurements.
        .executableTarget(name: "pgconnect-bench-c", dependencies: ["CLibPQ"], path: "Benchmarks/CLibPQBench"),
        .executableTarget(name: "pgconnect-bench", dependencies: ["PGConnect", "PGDiagnostics"], path: "Benchmarks/PGConnectBench"),
        // scripts/fuzz.sh: a generated-input loop over the parsers and the certificate inspector.
        .executableTarget(name: "pgconnect-fuzz", dependencies: ["PGConnect", "PGDiagnostics", "PGTestSupport"], path: "Fuzz/PGConnectFuzz"),
    ],
    swiftLanguageModes: [.v6]
)
