"""Stock: reserves order lines all or nothing, commits them when the parcels leave."""
