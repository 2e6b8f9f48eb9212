//! Reading an archive as a stream, with every byte counted.
//!
//! The compressed bytes going into the gzip decoder and the decompressed
//! bytes coming out are counted as they flow; the moment the output passes
//! the size cap or the ratio limit, reading fails with that reason instead
//! of a generic I/O error. Nothing here writes anything: `inspect` lists,
//! and the unpacker decides what to keep.
//!
//! A tar reader stops at the archive's end marker, before the gzip trailer
//! (CRC-32 and length) is read, and never looks at what follows the gzip
//! stream. So [`Reader::finish`] reads on to the end of the stream, which
//! makes the decoder check the trailer, and then refuses any byte after it:
//! a bundle is exactly one intact gzip stream, nothing hidden behind it.
//!
//! The gzip header, read when the file is opened, holds the signature if
//! the bundle is signed ([`super::sign`]); it is kept for the manifest.

use super::manifest::MAX_MANIFEST_BYTES;
use super::paths::check_entry_path;
use super::sign::{SignatureBlock, SignatureInfo};
use super::{BundleError, BundleLimits, Manifest, MANIFEST, RATIO_FLOOR};
use flate2::bufread::GzDecoder;
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

/// Decompressed bytes allowed per entry beyond its content: the header,
/// padding and long-name records.
const PER_ENTRY_OVERHEAD: u64 = 4096;

/// Shared counters between the two ends of the decoder.
#[derive(Default)]
pub(crate) struct Meter {
    compressed: Cell<u64>,
    out: Cell<u64>,
    tripped: Cell<Option<Trip>>,
}

#[derive(Clone, Copy)]
enum Trip {
    Size(u64),
    Ratio(u64),
}

impl Meter {
    /// The reason reading stopped: a tripped limit, else a corrupt archive.
    pub(crate) fn error(&self, e: io::Error) -> BundleError {
        match self.tripped.get() {
            Some(Trip::Size(limit)) => BundleError::TooLarge { limit },
            Some(Trip::Ratio(limit)) => BundleError::RatioExceeded { limit },
            None if e.kind() == io::ErrorKind::UnexpectedEof => {
                BundleError::Corrupt("the file ends before its gzip stream does".into())
            }
            None => BundleError::Corrupt(e.to_string()),
        }
    }
}

pub(crate) struct CountIn<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R: Read> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let m = &self.meter.compressed;
        m.set(m.get().saturating_add(n as u64));
        Ok(n)
    }
}

pub(crate) struct CountOut<R> {
    inner: R,
    meter: Rc<Meter>,
    cap: u64,
    max_ratio: u64,
}

impl<R: Read> Read for CountOut<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.meter.tripped.get().is_some() {
            return Err(io::Error::other("bundle limit exceeded"));
        }
        let n = self.inner.read(buf)?;
        let out = self.meter.out.get().saturating_add(n as u64);
        self.meter.out.set(out);
        let trip = if out > self.cap {
            Some(Trip::Size(self.cap))
        } else if out > RATIO_FLOOR
            && out > self.meter.compressed.get().saturating_mul(self.max_ratio)
        {
            Some(Trip::Ratio(self.max_ratio))
        } else {
            None
        };
        if let Some(t) = trip {
            self.meter.tripped.set(Some(t));
            return Err(io::Error::other("bundle limit exceeded"));
        }
        Ok(n)
    }
}

pub(crate) type Stream = CountOut<GzDecoder<BufReader<CountIn<File>>>>;
pub(crate) type ArchiveEntry<'a> = tar::Entry<'a, Stream>;

/// Opens `file` for one metered pass over its entries.
pub(crate) struct Reader {
    archive: tar::Archive<Stream>,
    meter: Rc<Meter>,
    max_entries: usize,
    /// The signature in the gzip header, unchecked.
    pub(crate) signature: Option<SignatureBlock>,
}

impl Reader {
    pub(crate) fn open(file: &Path, limits: &BundleLimits) -> Result<Self, BundleError> {
        let f = File::open(file).map_err(|e| BundleError::io(file, e))?;
        let meter = Rc::new(Meter::default());
        let entries = limits.max_entries as u64;
        let cap = limits
            .max_unpacked_bytes
            .saturating_add(MAX_MANIFEST_BYTES)
            .saturating_add(entries.saturating_add(2).saturating_mul(PER_ENTRY_OVERHEAD));
        // The bufread decoder takes exactly the bytes of one gzip stream
        // from the buffer, so whatever follows it stays there to be seen. It
        // parses the header here (a damaged one fails the first read).
        let decoder = GzDecoder::new(BufReader::new(CountIn {
            inner: f,
            meter: meter.clone(),
        }));
        let signature = SignatureBlock::from_gzip_extra(decoder.header().and_then(|h| h.extra()))?;
        let stream = CountOut {
            inner: decoder,
            meter: meter.clone(),
            cap,
            max_ratio: limits.max_ratio,
        };
        Ok(Reader {
            archive: tar::Archive::new(stream),
            meter,
            max_entries: limits.max_entries,
            signature,
        })
    }

    /// Calls `visit` for each entry, in archive order, stopping at the first
    /// error (its own, a tripped limit, or a corrupt archive).
    pub(crate) fn for_each(
        &mut self,
        mut visit: impl FnMut(&mut ArchiveEntry<'_>, &Meter) -> Result<(), BundleError>,
    ) -> Result<(), BundleError> {
        let meter = self.meter.clone();
        let entries = self.archive.entries().map_err(|e| meter.error(e))?;
        for (count, entry) in entries.enumerate() {
            if count >= self.max_entries {
                return Err(BundleError::TooManyEntries {
                    limit: self.max_entries,
                });
            }
            let mut entry = entry.map_err(|e| meter.error(e))?;
            visit(&mut entry, &meter)?;
        }
        Ok(())
    }

    /// After the last entry: reads the rest of the gzip stream (still
    /// metered), so that its trailer is checked, and refuses trailing bytes.
    pub(crate) fn finish(self) -> Result<(), BundleError> {
        let meter = self.meter.clone();
        let mut stream = self.archive.into_inner();
        io::copy(&mut stream, &mut io::sink()).map_err(|e| meter.error(e))?;
        let mut rest = stream.inner.into_inner();
        let after = rest.fill_buf().map_err(|e| meter.error(e))?.len();
        if after == 0 {
            return Ok(());
        }
        let counted = io::copy(&mut rest.take(TRAILING_COUNTED + 1), &mut io::sink())
            .map_err(|e| meter.error(e))?;
        Err(BundleError::TrailingData(if counted > TRAILING_COUNTED {
            format!("more than {TRAILING_COUNTED} bytes")
        } else {
            format!("{counted} bytes")
        }))
    }
}

/// How many trailing bytes are counted for the message (not all of them:
/// the file may be huge).
const TRAILING_COUNTED: u64 = 1 << 20;

/// What kind of entry this is, in words (for messages and `inspect`).
pub(crate) fn kind_name(t: tar::EntryType) -> String {
    use tar::EntryType as T;
    match t {
        T::Regular | T::Continuous => "file".into(),
        T::Directory => "directory".into(),
        T::Symlink => "symbolic link".into(),
        T::Link => "hard link".into(),
        T::Char => "character device".into(),
        T::Block => "block device".into(),
        T::Fifo => "named pipe".into(),
        T::GNUSparse => "sparse file".into(),
        T::XGlobalHeader => "pax global header".into(),
        other => format!("special entry (type {:?})", other.as_byte() as char),
    }
}

/// Reads the manifest entry's bytes (bounded).
pub(crate) fn read_manifest_bytes(
    entry: &mut ArchiveEntry<'_>,
    meter: &Meter,
) -> Result<Vec<u8>, BundleError> {
    if !entry.header().entry_type().is_file() {
        return Err(BundleError::BadManifest("it is not a regular file".into()));
    }
    if entry.size() > MAX_MANIFEST_BYTES {
        return Err(BundleError::BadManifest(format!(
            "larger than {MAX_MANIFEST_BYTES} bytes"
        )));
    }
    let mut bytes = Vec::new();
    entry
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| meter.error(e))?;
    Ok(bytes)
}

/// One archive entry as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    /// `file`, `directory`, `symbolic link`, ...
    pub kind: String,
    /// Listed in the manifest (the manifest itself counts as listed).
    pub in_manifest: bool,
}

/// What `inspect` found.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub manifest: Manifest,
    pub entries: Vec<Entry>,
    /// The signature's key id and whether it matches the manifest; `None`
    /// for an unsigned bundle. No key is trusted or refused here.
    pub signature: Option<SignatureInfo>,
}

/// The manifest, the archive's entries and the signer, without hashing or
/// unpacking anything (use [`super::verify`] for that). The entry count and
/// size limits apply, so inspecting a bomb is as safe as verifying it.
pub fn inspect(file: &Path, limits: &BundleLimits) -> Result<Inspection, BundleError> {
    let mut reader = Reader::open(file, limits)?;
    let block = reader.signature.clone();
    let mut signature = None;
    let mut manifest: Option<Manifest> = None;
    let mut listed_paths = std::collections::HashSet::new();
    let mut entries = Vec::new();
    reader.for_each(|entry, meter| {
        let raw = entry.path_bytes().into_owned();
        let path = String::from_utf8_lossy(&raw).into_owned();
        if manifest.is_none() {
            if path != MANIFEST {
                return Err(BundleError::ManifestNotFirst(path));
            }
            let bytes = read_manifest_bytes(entry, meter)?;
            signature = block.as_ref().map(|b| SignatureInfo::of(b, &bytes));
            let m: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| BundleError::BadManifest(e.to_string()))?;
            listed_paths = m.files.iter().map(|f| f.path.clone()).collect();
            manifest = Some(m);
        }
        let listed =
            path == MANIFEST || check_entry_path(&raw).is_ok_and(|p| listed_paths.contains(&p));
        entries.push(Entry {
            path,
            size: entry.size(),
            kind: kind_name(entry.header().entry_type()),
            in_manifest: listed,
        });
        Ok(())
    })?;
    let manifest =
        manifest.ok_or_else(|| BundleError::BadManifest("the archive is empty".into()))?;
    Ok(Inspection {
        manifest,
        entries,
        signature,
    })
}
