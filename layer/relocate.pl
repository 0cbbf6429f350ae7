#!/usr/bin/perl
# Rewrites, in one ELF file (or iconv's module cache), the paths Debian compiled into
# glibc, PHP, ImageMagick and libheif to the layer's paths under /opt. Each new path is as
# long as the old one, so no offset in the file moves.
#
#   perl layer/relocate.pl TRIPLET FILE     e.g. x86_64-linux-gnu /opt/lib/libc.so.6
use strict;
use warnings;

my ($triplet, $file) = @ARGV;
die "usage: relocate.pl TRIPLET FILE\n" unless defined $file;
my %to = (
    # Debian's PHP reads time zones from the system's database (its tzdata patch), and
    # glibc's own TZDIR default is the same directory.
    '/usr/share/zoneinfo' => '/opt/share/zoneinfo',
    # glibc's iconv looks for its modules and their cache here.
    "/usr/lib/$triplet/gconv" => "/opt/lib/$triplet/gconv",
    # ImageMagick (the extra layer): its coders and filters, its configuration, its
    # messages.
    "/usr/lib/$triplet/ImageMagick-" => "/opt/lib/$triplet/ImageMagick-",
    '/etc/ImageMagick-' => '/opt/ImageMagick-',
    '/usr/share/ImageMagick-' => '/opt/share/ImageMagick-',
    # libheif's decoder plugins (Debian 13).
    "/usr/lib/$triplet/libheif" => "/opt/lib/$triplet/libheif",
);
for my $from (keys %to) {
    length($from) == length($to{$from}) or die "relocate.pl: $from and $to{$from} differ in length\n";
}
open my $fh, '+<:raw', $file or die "relocate.pl: $file: $!\n";
my $data = do { local $/; <$fh> };
my $count = 0;
for my $from (keys %to) {
    $count += () = $data =~ s/\Q$from\E/$to{$from}/g;
}
if ($count) {
    seek $fh, 0, 0 or die "relocate.pl: $file: $!\n";
    print {$fh} $data or die "relocate.pl: $file: $!\n";
}
close $fh or die "relocate.pl: $file: $!\n";
