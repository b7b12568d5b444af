//! Every built-in sink, in every format, passes the shared conformance harness; the file sink's
//! file holds exactly what it reported.

use kobe_core::record::RecordFormat;
use kobe_core::testing::check_sink;
use kobe_sinks::file::FileConfig;
use kobe_sinks::stdout::StdoutConfig;

const FORMATS: [RecordFormat; 3] = [RecordFormat::Json, RecordFormat::Raw, RecordFormat::Pretty];

#[tokio::test]
async fn stdout_sink_conforms() {
    for format in FORMATS {
        check_sink(&StdoutConfig { format }).await.unwrap();
    }
}

fn file_config(path: std::path::PathBuf, format: RecordFormat) -> FileConfig {
    FileConfig {
        path,
        format,
        rotate_bytes: 0,
        flush_interval_ms: 1000,
        buffer_bytes: 4096,
    }
}

#[tokio::test]
async fn file_sink_conforms_and_writes_what_it_reports() {
    let dir = tempfile::tempdir().unwrap();
    for format in FORMATS {
        let path = dir.path().join(format!("nested/{format:?}.ndjson"));
        check_sink(&file_config(path.clone(), format))
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        match format {
            RecordFormat::Raw => assert_eq!(lines, ["{\"channel\":\"heartbeat\"}"]),
            RecordFormat::Json => {
                assert_eq!(lines.len(), 10, "every non-raw sample event");
                for l in lines {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    assert_eq!(v["v"], 1);
                }
            }
            RecordFormat::Pretty => assert_eq!(lines.len(), 10),
        }
    }
}

#[tokio::test]
async fn file_sink_appends_and_rotates_by_size() {
    use kobe_core::component::SinkConfig;
    use kobe_core::EventBatch;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    std::fs::write(&path, "kept\n").unwrap();
    let mut config = file_config(path.clone(), RecordFormat::Json);
    config.rotate_bytes = 2000;
    let filter = config.default_events();
    let mut sink = config.build("out").await.unwrap();
    let mut batch = EventBatch::default();
    for e in kobe_core::testing::sample_events() {
        batch.push(e);
    }
    let mut written = 0;
    for _ in 0..5 {
        written += sink.write(&batch, filter).await.unwrap();
    }
    let report = sink.close().await.unwrap();
    assert_eq!(
        report.bytes + 5,
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum::<u64>(),
        "bytes reported = bytes added to the files"
    );
    assert!(written > 0);

    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert!(files.len() >= 2, "no rotation happened: {files:?}");
    assert!(files.contains(&"out.ndjson.1".to_string()), "{files:?}");
    let all: String = files
        .iter()
        .filter(|f| f.as_str() != "out.ndjson")
        .chain(std::iter::once(&"out.ndjson".to_string()))
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap())
        .collect();
    assert!(all.starts_with("kept\n"), "appended to the existing file");
    assert_eq!(
        all.lines().count() as u64,
        written + 1,
        "no record lost across rotation"
    );
}
