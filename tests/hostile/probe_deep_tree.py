"""Class 3: a tree no recursive cleanup survives — 3,000 nested folders, the deepest ones chmod 000,
a FIFO, a symlink loop; the verification must still return and leave nothing behind."""
import os

top = os.getcwd()
for _ in range(3000):
    os.mkdir("d")
    os.chdir("d")
os.mkfifo("fifo")
os.symlink(".", "loop")
for _ in range(10):
    os.chdir("..")
    os.chmod("d", 0)
os.chdir(top)
os.chmod(top, 0o500)
print("CONTAINED")
