-- What an uploaded image's header says (type, upright size, EXIF orientation), read once at upload:
-- admission charges a file image by it before any byte of the file is read. NULL: not a JPEG/PNG
-- (or uploaded before this migration); such files are inspected when used, as before.
ALTER TABLE file_blobs ADD COLUMN image_mime TEXT;
ALTER TABLE file_blobs ADD COLUMN image_width INTEGER;
ALTER TABLE file_blobs ADD COLUMN image_height INTEGER;
ALTER TABLE file_blobs ADD COLUMN image_orientation INTEGER;
