"""Reads an .xlsx with openpyxl, a real spreadsheet reader, and prints what the Excel export's
test checks as JSON: the number of rows, the header, the first rows' values with their cell
types, and whether the header row is frozen and filtered.

usage: read_xlsx.py FILE FIRST_ROWS
"""

import json
import sys
import zipfile

from openpyxl import load_workbook


def main():
    path, first = sys.argv[1], int(sys.argv[2])
    workbook = load_workbook(path, read_only=True)
    sheet = workbook.active
    rows, header, sample = 0, None, []
    for row in sheet.iter_rows():
        rows += 1
        if header is None:
            header = [c.value for c in row]
        elif len(sample) < first:
            sample.append([
                {"type": c.data_type, "value": c.value.isoformat() if hasattr(c.value, "isoformat") else c.value}
                for c in row
            ])
    # Frozen panes and the filter are in the sheet's XML, which read-only mode does not parse.
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    print(json.dumps({
        "rows": rows,
        "header": header,
        "sample": sample,
        "frozen": 'state="frozen"' in xml and 'ySplit="1"' in xml,
        "filtered": "<autoFilter ref=" in xml,
    }))


main()
