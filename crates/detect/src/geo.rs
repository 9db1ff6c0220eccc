//! Where an IP address is: a table of networks with coordinates, read from CSV files in the
//! layout of MaxMind's GeoLite2 City "Blocks" files (columns `network`, `latitude`,
//! `longitude`, any others ignored), for the impossible-travel method. trailwatch ships no geo
//! data: the user points the configuration at the files (`[detect] geoip = [...]`).

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

/// A point on Earth, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub lat: f32,
    pub lon: f32,
}

impl Location {
    /// Great-circle distance in kilometres (haversine).
    pub fn km_to(self, other: Location) -> f64 {
        let (la1, lo1) = ((self.lat as f64).to_radians(), (self.lon as f64).to_radians());
        let (la2, lo2) = ((other.lat as f64).to_radians(), (other.lon as f64).to_radians());
        let a = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
        2.0 * 6371.0 * a.sqrt().asin()
    }
}

/// Networks and their locations, sorted for lookups.
#[derive(Debug, Default, Clone)]
pub struct GeoDb {
    /// (first address, last address, location), IPv4 mapped into IPv6 space.
    ranges: Vec<(u128, u128, Location)>,
}

/// A problem reading a geo file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct GeoError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

fn bounds(net: &IpNet) -> (u128, u128) {
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    };
    (v6(net.network()), v6(net.broadcast()))
}

impl GeoDb {
    /// Reads one or more CSV files. Rows that cannot be read are errors naming the line; at
    /// most `max_errors` are kept before the file is given up.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<GeoDb, GeoError> {
        let mut db = GeoDb::default();
        for p in paths {
            let p = p.as_ref();
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| GeoError {
                file: name.clone(),
                line: 0,
                message: format!("cannot read: {e}"),
            })?;
            db.add_csv(&name, &text)?;
        }
        db.finish();
        Ok(db)
    }

    /// Adds the rows of one CSV text (header first). Call [`GeoDb::finish`] after the last.
    pub fn add_csv(&mut self, name: &str, text: &str) -> Result<(), GeoError> {
        let err = |line: usize, message: String| GeoError { file: name.to_owned(), line, message };
        let mut lines = text.lines().enumerate();
        let (_, header) = lines.next().ok_or_else(|| err(1, "empty file".into()))?;
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let col = |n: &str| {
            cols.iter().position(|c| *c == n).ok_or_else(|| err(1, format!("no `{n}` column in the header")))
        };
        let (net_i, lat_i, lon_i) = (col("network")?, col("latitude")?, col("longitude")?);
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            // GeoLite2 quotes only text columns after the coordinates; plain splitting is
            // enough for the three we read when they come first, as in MaxMind's files.
            let fields: Vec<&str> = line.split(',').collect();
            let get = |j: usize| fields.get(j).map(|s| s.trim().trim_matches('"')).unwrap_or("");
            let (lat, lon) = (get(lat_i), get(lon_i));
            if lat.is_empty() || lon.is_empty() {
                continue; // networks known only by country carry no coordinates
            }
            let net: IpNet =
                get(net_i).parse().map_err(|_| err(i + 1, format!("bad network {:?}", get(net_i))))?;
            let lat: f32 = lat.parse().map_err(|_| err(i + 1, format!("bad latitude {lat:?}")))?;
            let lon: f32 = lon.parse().map_err(|_| err(i + 1, format!("bad longitude {lon:?}")))?;
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(err(i + 1, format!("coordinates {lat},{lon} are off the globe")));
            }
            let (lo, hi) = bounds(&net);
            self.ranges.push((lo, hi, Location { lat, lon }));
        }
        Ok(())
    }

    /// Adds one network (tests and inline rule tests). Call [`GeoDb::finish`] after the last.
    pub fn insert(&mut self, net: IpNet, loc: Location) {
        let (lo, hi) = bounds(&net);
        self.ranges.push((lo, hi, loc));
    }

    /// Sorts the table; lookups need it.
    pub fn finish(&mut self) {
        self.ranges.sort_by_key(|r| (r.0, std::cmp::Reverse(r.1)));
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The location of `ip`, when a network of the table holds it (the most specific one
    /// starting at or before it).
    pub fn locate(&self, ip: IpAddr) -> Option<Location> {
        let x = match ip {
            IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            IpAddr::V6(a) => u128::from(a),
        };
        let at = self.ranges.partition_point(|r| r.0 <= x);
        self.ranges[..at].iter().rev().take(8).find(|r| r.1 >= x).map(|r| r.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,postal_code,latitude,longitude,accuracy_radius
203.0.113.0/24,2988507,3017382,,0,0,75001,48.8534,2.3488,20
198.51.100.0/25,5128581,6252001,,0,0,10001,40.7143,-74.006,10
198.51.100.128/25,6252001,6252001,,0,0,,,,1000
2001:db8::/32,1850147,1861060,,0,0,,35.6895,139.6917,50
";

    #[test]
    fn reads_geolite_blocks_and_locates() {
        let mut db = GeoDb::default();
        db.add_csv("city.csv", CSV).unwrap();
        db.finish();
        assert_eq!(db.len(), 3, "the row without coordinates is skipped");
        let paris = db.locate("203.0.113.9".parse().unwrap()).unwrap();
        let ny = db.locate("198.51.100.7".parse().unwrap()).unwrap();
        assert!((paris.km_to(ny) - 5837.0).abs() < 20.0, "{}", paris.km_to(ny));
        assert!(db.locate("198.51.100.200".parse().unwrap()).is_none());
        assert!(db.locate("192.0.2.1".parse().unwrap()).is_none());
        assert!(db.locate("2001:db8::1".parse().unwrap()).is_some());
    }

    #[test]
    fn bad_rows_name_the_line() {
        let mut db = GeoDb::default();
        let e =
            db.add_csv("x.csv", "network,latitude,longitude\n10.0.0.0/8,1,2\nnot-a-net,1,2\n").unwrap_err();
        assert_eq!(e.to_string(), "x.csv:3: bad network \"not-a-net\"");
        let e = db.add_csv("y.csv", "net,lat\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = db.add_csv("z.csv", "network,latitude,longitude\n10.0.0.0/8,91,2\n").unwrap_err();
        assert!(e.message.contains("off the globe"));
    }
}
