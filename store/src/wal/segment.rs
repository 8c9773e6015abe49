//! WAL framing: segment files of length-prefixed, checksummed records.
//! What the payloads mean is `record`'s job. Layout in
//! `store/docs/format/wal.md`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Magic and version at the start of every segment and checkpoint file
/// this build writes. Version 4 may hold Snappy-compressed records.
pub(crate) const HEADER: [u8; 8] = *b"WFWL\x04\0\0\0";
/// Version 3, written by earlier builds: batches whose samples give their
/// series as differences (record types 4 and 5); records may be
/// zstd-compressed. Read as it is.
pub(crate) const HEADER_V3: [u8; 8] = *b"WFWL\x03\0\0\0";
/// Version 2, written by earlier builds: records may be compressed;
/// batches of types 1 and 3. Read as it is.
pub(crate) const HEADER_V2: [u8; 8] = *b"WFWL\x02\0\0\0";
/// Version 1, written by earlier builds: never compressed, read as it is.
pub(crate) const HEADER_V1: [u8; 8] = *b"WFWL\x01\0\0\0";

/// Whether `h` is the header of a file this build reads.
pub(crate) fn is_header(h: &[u8]) -> bool {
    h == HEADER || h == HEADER_V3 || h == HEADER_V2 || h == HEADER_V1
}
/// Bytes before each payload: length and CRC32, both little-endian u32.
pub(crate) const RECORD_HEADER_LEN: usize = 8;
/// Largest payload accepted; anything longer is damage.
pub(crate) const MAX_RECORD: usize = 256 << 20;

/// Where and how a file stops being readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Damage {
    pub offset: u64,
    pub reason: String,
}

/// The readable records of one file, and the damage that ended reading.
pub(crate) struct Contents {
    /// Each record's payload with the offset of its frame.
    pub records: Vec<(u64, Vec<u8>)>,
    pub damage: Option<Damage>,
}

/// Reads every record up to the first damage. A file with our magic but
/// another format version is an error, not damage: repairing it would
/// destroy data that a newer build wrote.
pub(crate) fn read(path: &Path) -> std::io::Result<Contents> {
    let mut buf = Vec::new();
    File::open(path)?.read_to_end(&mut buf)?;
    if buf.len() >= HEADER.len() && buf[..4] == HEADER[..4] && !(1..=HEADER[4]).contains(&buf[4]) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: WAL format version {}, this build reads versions 1 to {}",
                path.display(),
                buf[4],
                HEADER[4]
            ),
        ));
    }
    Ok(parse(&buf))
}

pub(crate) fn parse(buf: &[u8]) -> Contents {
    let mut records = Vec::new();
    let damage = |offset: usize, reason: &str| {
        Some(Damage {
            offset: offset as u64,
            reason: reason.to_string(),
        })
    };
    if buf.len() < HEADER.len() {
        return Contents {
            records,
            damage: damage(0, "truncated segment header"),
        };
    }
    if !is_header(&buf[..HEADER.len()]) {
        return Contents {
            records,
            damage: damage(0, "bad segment header (not a watchfire WAL segment)"),
        };
    }
    let mut pos = HEADER.len();
    while pos < buf.len() {
        let Some(head) = buf.get(pos..pos + RECORD_HEADER_LEN) else {
            return Contents {
                records,
                damage: damage(pos, "torn record header"),
            };
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len == 0 {
            let reason = if buf[pos..].iter().all(|&b| b == 0) {
                "zero-filled tail"
            } else {
                "zero-length record"
            };
            return Contents {
                records,
                damage: damage(pos, reason),
            };
        }
        if len > MAX_RECORD {
            return Contents {
                records,
                damage: damage(pos, "record length out of range"),
            };
        }
        let start = pos + RECORD_HEADER_LEN;
        let Some(payload) = buf.get(start..start + len) else {
            return Contents {
                records,
                damage: damage(pos, "torn record"),
            };
        };
        if crc32fast::hash(payload) != crc {
            return Contents {
                records,
                damage: damage(pos, "bad checksum"),
            };
        }
        records.push((pos as u64, payload.to_vec()));
        pos = start + len;
    }
    Contents {
        records,
        damage: None,
    }
}

/// Frames `payload` as one record appended to `out`.
pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Refuses a payload the reader would take for damage, before it is
/// written: what is acknowledged must read back.
pub(crate) fn check_len(payload: &[u8]) -> std::io::Result<()> {
    if payload.len() > MAX_RECORD {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "record of {} bytes is over the WAL record limit of {} bytes",
                payload.len(),
                MAX_RECORD
            ),
        ));
    }
    Ok(())
}

/// Creates a new segment file holding only the header. A file that could
/// not be written whole (a full disk) is removed again, so the next
/// attempt can create it.
pub(crate) fn create(path: &Path) -> std::io::Result<File> {
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)?;
    if let Err(e) = f.write_all(&HEADER) {
        drop(f);
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(f)
}

/// Writes a whole file of records atomically: temporary file, fsync,
/// rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, records: &[Vec<u8>]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut buf = HEADER.to_vec();
    for r in records {
        check_len(r)?;
        frame(r, &mut buf);
    }
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(&buf)?;
        f.sync_all()
    });
    if let Err(e) = written {
        // Leave no half-written file taking the space that is short.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Segment file name for an index: eight decimal digits.
pub(crate) fn name(index: u64) -> String {
    format!("{index:08}")
}

/// Checkpoint file name: it replaces every segment up to `index`.
pub(crate) fn checkpoint_name(index: u64) -> String {
    format!("checkpoint.{index:08}")
}

/// Segments and checkpoints found in a WAL directory, sorted by index.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub segments: Vec<(u64, PathBuf)>,
    pub checkpoints: Vec<(u64, PathBuf)>,
}

pub(crate) fn list(dir: &Path) -> std::io::Result<Listing> {
    let mut l = Listing::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Ok(i) = name.parse::<u64>() {
            l.segments.push((i, entry.path()));
        } else if let Some(i) = name
            .strip_prefix("checkpoint.")
            .and_then(|s| s.parse::<u64>().ok())
        {
            l.checkpoints.push((i, entry.path()));
        } else if name.ends_with(".tmp") {
            // A checkpoint interrupted before its rename: never valid.
            let _ = fs::remove_file(entry.path());
        }
    }
    l.segments.sort();
    l.checkpoints.sort();
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(records: &[&[u8]]) -> Vec<u8> {
        let mut buf = HEADER.to_vec();
        for r in records {
            frame(r, &mut buf);
        }
        buf
    }

    #[test]
    fn records_over_the_limit_are_refused_before_writing() {
        assert!(check_len(&vec![0; MAX_RECORD]).is_ok());
        let e = check_len(&vec![0; MAX_RECORD + 1]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(checkpoint_name(1));
        assert!(write_atomic(&path, &[b"ok".to_vec(), vec![0; MAX_RECORD + 1]]).is_err());
        assert!(!path.exists() && !path.with_extension("tmp").exists());
    }

    #[test]
    fn damage_table() {
        let good = file(&[b"one", b"two", b"three"]);
        let second = (HEADER.len() + RECORD_HEADER_LEN + 3) as u64;
        let third = second + (RECORD_HEADER_LEN + 3) as u64;
        let mut bad_crc = good.clone();
        bad_crc[second as usize + RECORD_HEADER_LEN] ^= 0xff;
        let mut zero_tail = good.clone();
        zero_tail.extend_from_slice(&[0; 100]);
        // (name, bytes, records kept, damage offset and reason)
        type Case<'a> = (&'a str, Vec<u8>, usize, Option<(u64, &'a str)>);
        let cases: Vec<Case> = vec![
            ("intact", good.clone(), 3, None),
            (
                "torn last record",
                good[..good.len() - 2].to_vec(),
                2,
                Some((third, "torn record")),
            ),
            (
                "torn record header",
                good[..third as usize + 3].to_vec(),
                2,
                Some((third, "torn record header")),
            ),
            (
                "bad crc in the middle",
                bad_crc,
                1,
                Some((second, "bad checksum")),
            ),
            (
                "zero-filled tail",
                zero_tail,
                3,
                Some((good.len() as u64, "zero-filled tail")),
            ),
            (
                "truncated header",
                good[..5].to_vec(),
                0,
                Some((0, "truncated segment header")),
            ),
            (
                "garbage",
                b"garbage garbage garbage".to_vec(),
                0,
                Some((0, "bad segment header")),
            ),
        ];
        for (name, bytes, kept, want) in cases {
            let c = parse(&bytes);
            assert_eq!(c.records.len(), kept, "{name}: records kept");
            let got = c.damage.map(|d| (d.offset, d.reason));
            match (got, want) {
                (None, None) => {}
                (Some((off, reason)), Some((woff, wreason))) => {
                    assert_eq!(off, woff, "{name}: offset");
                    assert!(
                        reason.starts_with(wreason),
                        "{name}: reason {reason:?}, want {wreason:?}"
                    );
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }
}
